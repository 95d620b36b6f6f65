import { randomBytes, timingSafeEqual } from 'node:crypto';
import { Counters, type LogEvent, RateLimiter, isDecodeError, logEvent } from '../core/index.js';
import { type ControlMessage, decodeControlMessage } from './attributes.js';
import {
  CDN_RESULT_NAMES,
  CdnResult,
  ErrorCode,
  MESSAGE_TYPE_NAMES,
  MessageType,
  STOPCCN_RESULT_NAMES,
  StopCcnResult,
  avpTypeName,
  isControlConnectionMessage,
  messageTypeName,
} from './constants.js';
import { FLAG_L, FLAG_S, L2TP_VERSION, type L2tpHeader, decodeHeader } from './header.js';
import { challengeResponse } from './hidden.js';
import { buildCdn, buildHello, buildIcrp, buildSccrp, buildStandalone, buildStopCcn } from './messages.js';
import { type ChannelConfig, ControlChannel, DEFAULT_CHANNEL_CONFIG } from './reliable.js';
import type { Inbound, Session, Tunnel } from './tunnel.js';

export interface L2tpServerConfig {
  /** Our Host Name AVP. */
  hostName: string;
  /** Tunnel secret (optional; most clients use none): Challenge/Response and hidden AVPs. */
  secret?: Buffer;
  /** Seconds of silence before a HELLO, default 60 (npppd); 0 disables HELLO. */
  helloInterval?: number;
  /** Tunnels in all, default 4096. */
  maxTunnels?: number;
  /** Tunnels per peer group (see peerGroup), default 1000 (SoftEther's per-IP limit). */
  maxTunnelsPerPeer?: number;
  /** Sessions per tunnel, default 1024 (SoftEther). */
  maxSessionsPerTunnel?: number;
  /** Maps a peer key to the group maxTunnelsPerPeer counts in (e.g. its outer address); default: the key itself. */
  peerGroup?: (peerKey: string) => string;
  /** Retransmission parameters (RFC 2661 §5.8), default window 8, 5 retries, 1 s doubling to 8 s. */
  channel?: Partial<ChannelConfig>;
  /** Seconds a tunnel may wait for SCCCN, or a session for ICCN, default 30. */
  setupTimeout?: number;
  random?: (n: number) => Buffer;
  counters?: Counters;
}

export type L2tpOutput =
  | { type: 'send'; peerKey: string; data: Buffer }
  | { type: 'session-up'; sessionKey: string; peerKey: string; tunnelId: number; sessionId: number; peerHostName: string }
  | { type: 'ppp-frame'; sessionKey: string; frame: Uint8Array }
  | { type: 'session-down'; sessionKey: string; reason: string }
  | { type: 'tunnel-down'; peerKey: string; tunnelId: number; reason: string }
  | LogEvent;

export interface L2tpTunnelInfo {
  peerKey: string;
  tunnelId: number;
  peerTunnelId: number;
  sessions: Array<{ sessionKey: string; sessionId: number; peerSessionId: number }>;
}

/** A full retransmission cycle (1+2+4+8+8+8 s): how long a dead tunnel re-acks a StopCCN (RFC 2661 §5.7). */
const LINGER_MS = 31_000;

/**
 * L2TP network server (LNS), RFC 2661. Sans-I/O: datagrams in with the
 * peer key the daemon assigns, outputs out; time is passed in (`now`, ms).
 */
export class L2tpServer {
  private readonly secret: Buffer | undefined;
  private readonly helloMs: number;
  private readonly setupMs: number;
  private readonly maxTunnels: number;
  private readonly maxPerPeer: number;
  private readonly maxSessions: number;
  private readonly channelCfg: ChannelConfig;
  private readonly random: (n: number) => Buffer;
  readonly counters: Counters;
  private readonly limiter = new RateLimiter(5, 10_000);
  private readonly tunnels = new Map<number, Tunnel>();
  private readonly byPeerTid = new Map<string, Tunnel>();
  private readonly byPeer = new Map<string, Set<Tunnel>>();
  private readonly perGroup = new Map<string, number>();
  private readonly sessions = new Map<string, Session>();

  constructor(private readonly cfg: L2tpServerConfig) {
    this.secret = cfg.secret && cfg.secret.length > 0 ? cfg.secret : undefined;
    this.helloMs = (cfg.helloInterval ?? 60) * 1000;
    this.setupMs = (cfg.setupTimeout ?? 30) * 1000;
    this.maxTunnels = cfg.maxTunnels ?? 4096;
    this.maxPerPeer = cfg.maxTunnelsPerPeer ?? 1000;
    this.maxSessions = cfg.maxSessionsPerTunnel ?? 1024;
    this.channelCfg = { ...DEFAULT_CHANNEL_CONFIG, ...cfg.channel };
    this.random = cfg.random ?? randomBytes;
    this.counters = cfg.counters ?? new Counters('l2tp');
  }

  // ---------------------------------------------------------------- receive

  receive(data: Uint8Array, peerKey: string, now: number): L2tpOutput[] {
    const out: L2tpOutput[] = [];
    try {
      const h = decodeHeader(data);
      if (!h.isControl) this.receiveData(h, data, peerKey, now, out);
      else this.receiveControl(h, data, peerKey, now, out);
    } catch (e) {
      if (isDecodeError(e)) this.drop(e.reason, now, out, { peer: peerKey, error: e.message });
      else this.drop('internal-error', now, out, { peer: peerKey, error: e instanceof Error ? e.message : String(e) });
    }
    return out;
  }

  private receiveData(h: L2tpHeader, data: Uint8Array, peerKey: string, now: number, out: L2tpOutput[]): void {
    const t = this.tunnels.get(h.tunnelId);
    if (t === undefined || t.peerKey !== peerKey || t.state !== 'established') return this.drop('data-unknown-tunnel', now, out);
    const s = t.sessions.get(h.sessionId);
    if (s === undefined || s.state !== 'established') return this.drop('data-unknown-session', now, out);
    t.lastHeard = now;
    this.counters.inc('l2tp.data.rx');
    // A view into the datagram (no copy): the consumer must use it before the buffer is reused.
    out.push({ type: 'ppp-frame', sessionKey: s.key, frame: data.subarray(h.payloadOffset, h.payloadEnd) });
  }

  private receiveControl(h: L2tpHeader, data: Uint8Array, peerKey: string, now: number, out: L2tpOutput[]): void {
    const msg = decodeControlMessage(data.subarray(h.payloadOffset, h.payloadEnd), this.secret);
    const ns = h.ns ?? 0;
    const nr = h.nr ?? 0;
    if (h.tunnelId === 0) {
      if (msg === null || msg.messageType !== MessageType.SCCRQ) return this.drop('tunnel-id-zero', now, out);
      return this.handleSccrq(h, msg, peerKey, now, out);
    }
    const t = this.tunnels.get(h.tunnelId);
    if (t === undefined || t.peerKey !== peerKey) return this.drop('unknown-tunnel', now, out, { peer: peerKey, tunnelId: h.tunnelId });
    this.onTunnelMessage(t, ns, nr, msg === null ? null : { sessionId: h.sessionId, msg }, now, out);
  }

  /** Feed one control message through the tunnel's reliable channel, then process what it delivers in order. */
  private onTunnelMessage(t: Tunnel, ns: number, nr: number, inb: Inbound | null, now: number, out: L2tpOutput[]): void {
    t.lastHeard = now;
    const r = t.channel.receive(ns, nr, inb, now);
    for (const d of r.transmit) this.emit(t, d, out);
    if (r.verdict === 'duplicate') this.counters.inc('l2tp.control.duplicate');
    else if (r.verdict === 'queued') this.counters.inc('l2tp.control.out-of-order');
    else if (r.verdict === 'beyond-window') this.drop('beyond-window', now, out, { tunnelId: t.tunnelId, ns });
    for (const m of r.deliver) {
      if (!this.tunnels.has(t.tunnelId)) return;
      this.dispatch(t, m, now, out);
    }
    if (!this.tunnels.has(t.tunnelId)) return;
    const zlb = t.channel.zlbIfNeeded();
    if (zlb) this.emit(t, zlb, out);
    if (t.state === 'closing' && t.channel.idle) this.freeTunnel(t, 'StopCCN acknowledged', out);
  }

  private dispatch(t: Tunnel, m: Inbound, now: number, out: L2tpOutput[]): void {
    const { msg } = m;
    const type = msg.messageType;
    this.counters.inc(`l2tp.rx.${messageTypeName(type)}`);
    if (t.state === 'dead') return;
    if (t.state === 'closing' && type !== MessageType.StopCCN) return;
    if (MESSAGE_TYPE_NAMES[type] === undefined) {
      // RFC 2661 §4.4.1: an unknown message type with M set clears the tunnel; without M it is ignored.
      if (msg.messageTypeMandatory) this.stopTunnel(t, StopCcnResult.GeneralError, ErrorCode.OutOfRange, `unknown message type ${type}`, now, out);
      return;
    }
    if (msg.unknownMandatory !== undefined) {
      const a = msg.unknownMandatory;
      const what = `unknown mandatory AVP ${avpTypeName(a.vendorId, a.type)}`;
      // RFC 2661 §4.1: tear down what the message belongs to.
      if (isControlConnectionMessage(type)) return this.stopTunnel(t, StopCcnResult.GeneralError, ErrorCode.UnknownMandatoryAvp, what, now, out);
      return this.rejectSessionMessage(t, m, CdnResult.GeneralError, ErrorCode.UnknownMandatoryAvp, what, now, out);
    }
    switch (type) {
      case MessageType.SCCCN:
        return this.handleScccn(t, msg, now, out);
      case MessageType.StopCCN:
        return this.handleStopCcn(t, msg, now, out);
      case MessageType.HELLO:
        return;
      case MessageType.ICRQ:
        return this.handleIcrq(t, msg, now, out);
      case MessageType.ICCN:
        return this.handleIccn(t, m, out);
      case MessageType.CDN:
        return this.handleCdn(t, m, out);
      case MessageType.OCRQ:
        // We are an LNS for incoming calls only: refuse outgoing calls (RFC 2661 §6.7).
        return this.rejectSessionMessage(t, m, CdnResult.PermanentLackOfFacilities, undefined, 'outgoing calls not supported', now, out);
      case MessageType.WEN: {
        const s = t.sessions.get(m.sessionId);
        out.push(logEvent('info', 'l2tp.RecvWEN', { ...this.fields(t, s), callErrors: msg.attrs.callErrors }));
        return;
      }
      case MessageType.SLI: {
        const s = t.sessions.get(m.sessionId);
        if (s && msg.attrs.accm) s.accm = msg.attrs.accm;
        out.push(logEvent('debug', 'l2tp.RecvSLI', { ...this.fields(t, s), accm: msg.attrs.accm }));
        return;
      }
      default:
        out.push(logEvent('warn', 'l2tp.unexpected', { ...this.fields(t), messageType: messageTypeName(type) }));
    }
  }

  // ------------------------------------------------------- control connection

  private handleSccrq(h: L2tpHeader, msg: ControlMessage, peerKey: string, now: number, out: L2tpOutput[]): void {
    const ns = h.ns ?? 0;
    const a = msg.attrs;
    const peerTid = a.assignedTunnelId;
    if (peerTid === undefined || peerTid === 0) return this.drop('sccrq-no-tunnel-id', now, out, { peer: peerKey });
    const existing = this.byPeerTid.get(`${peerKey}|${peerTid}`);
    if (existing && (existing.state === 'wait-ctl-conn' || existing.state === 'established')) {
      // A retransmitted SCCRQ: a duplicate on the existing tunnel, never a second tunnel.
      this.counters.inc('l2tp.sccrq.retransmit');
      return this.onTunnelMessage(existing, ns, h.nr ?? 0, { sessionId: h.sessionId, msg }, now, out);
    }
    const hostName = a.hostName ?? '';
    out.push(logEvent('info', 'l2tp.RecvSCCRQ', { peer: peerKey, peerTunnelId: peerTid, hostname: hostName, vendor: a.vendorName }));
    const refuse = (result: number, error: number | undefined, reason: string): void => {
      this.counters.inc('l2tp.sccrq.refused');
      out.push(logEvent('warn', 'l2tp.SendStopCCN', { peer: peerKey, peerTunnelId: peerTid, hostname: hostName, reason }));
      out.push({ type: 'send', peerKey, data: buildStandalone(peerTid, 0, 0, (ns + 1) & 0xffff, buildStopCcn(0, result, error, reason)) });
    };
    if (msg.unknownMandatory) {
      const u = msg.unknownMandatory;
      return refuse(StopCcnResult.GeneralError, ErrorCode.UnknownMandatoryAvp, `unknown mandatory AVP ${avpTypeName(u.vendorId, u.type)}`);
    }
    if (a.protocolVersion && (a.protocolVersion.version !== 1 || a.protocolVersion.revision !== 0)) {
      return refuse(StopCcnResult.ProtocolVersionNotSupported, 0x0100, 'protocol version not supported');
    }
    if (a.challenge && !this.secret) return refuse(StopCcnResult.NotAuthorized, undefined, 'challenge but no tunnel secret configured');
    const group = this.cfg.peerGroup ? this.cfg.peerGroup(peerKey) : peerKey;
    if (this.tunnels.size >= this.maxTunnels || (this.perGroup.get(group) ?? 0) >= this.maxPerPeer) {
      return refuse(StopCcnResult.GeneralError, ErrorCode.InsufficientResources, 'too many tunnels');
    }
    const tunnelId = this.allocId((id) => this.tunnels.has(id));
    if (tunnelId === undefined) return refuse(StopCcnResult.GeneralError, ErrorCode.InsufficientResources, 'no tunnel id');
    const channel = new ControlChannel<Inbound>(this.channelCfg);
    channel.peerTunnelId = peerTid;
    channel.peerWindow = Math.min(Math.max(a.receiveWindowSize ?? 4, 1), 1024);
    channel.nr = (ns + 1) & 0xffff;
    channel.ackPending = true;
    const t: Tunnel = {
      peerKey,
      group,
      tunnelId,
      peerTunnelId: peerTid,
      peerHostName: hostName,
      state: 'wait-ctl-conn',
      channel,
      sessions: new Map(),
      pendingSessions: 0,
      createdAt: now,
      lastHeard: now,
      downEmitted: false,
    };
    if (a.vendorName !== undefined) t.peerVendorName = a.vendorName;
    this.tunnels.set(tunnelId, t);
    this.byPeerTid.set(`${peerKey}|${peerTid}`, t);
    let set = this.byPeer.get(peerKey);
    if (!set) this.byPeer.set(peerKey, (set = new Set()));
    set.add(t);
    this.perGroup.set(group, (this.perGroup.get(group) ?? 0) + 1);
    let response: Buffer | undefined;
    if (this.secret) {
      if (a.challenge) response = challengeResponse(MessageType.SCCRP, this.secret, a.challenge);
      t.ourChallenge = this.random(16);
    }
    const sccrp = buildSccrp({
      hostName: this.cfg.hostName,
      assignedTunnelId: tunnelId,
      receiveWindowSize: this.channelCfg.ourWindow,
      ...(response ? { challengeResponse: response } : {}),
      ...(t.ourChallenge ? { challenge: t.ourChallenge } : {}),
    });
    this.sendControl(t, 0, sccrp, now, out);
    out.push(logEvent('info', 'l2tp.SendSCCRP', this.fields(t)));
  }

  private handleScccn(t: Tunnel, msg: ControlMessage, now: number, out: L2tpOutput[]): void {
    out.push(logEvent('info', 'l2tp.RecvSCCCN', this.fields(t)));
    if (t.state !== 'wait-ctl-conn') return;
    if (this.secret && t.ourChallenge) {
      const expected = challengeResponse(MessageType.SCCCN, this.secret, t.ourChallenge);
      const got = msg.attrs.challengeResponse;
      if (!got || got.length !== expected.length || !timingSafeEqual(got, expected)) {
        this.counters.inc('l2tp.challenge.failed');
        return this.stopTunnel(t, StopCcnResult.NotAuthorized, undefined, 'bad challenge response', now, out);
      }
    }
    t.state = 'established';
    out.push(logEvent('info', 'l2tp.tunnel.start', this.fields(t)));
  }

  private handleStopCcn(t: Tunnel, msg: ControlMessage, now: number, out: L2tpOutput[]): void {
    const rc = msg.attrs.resultCode;
    const reason = `peer StopCCN: ${rc ? (STOPCCN_RESULT_NAMES[rc.result] ?? `result ${rc.result}`) : 'no result code'}${rc?.message ? ` (${rc.message})` : ''}`;
    out.push(logEvent('info', 'l2tp.RecvStopCCN', { ...this.fields(t), reason, resultCode: rc?.result, errorCode: rc?.error }));
    this.sessionsDown(t, reason, out);
    this.tunnelDown(t, reason, out);
    // RFC 2661 §5.7: keep the state one full retransmission cycle to re-ack a lost ZLB.
    t.state = 'dead';
    t.lingerUntil = now + LINGER_MS;
    t.channel.abandon();
    this.unindex(t);
  }

  /** We clear the control connection: StopCCN (reliable), sessions down now, tunnel freed once acked. */
  private stopTunnel(t: Tunnel, result: number, error: number | undefined, reason: string, now: number, out: L2tpOutput[]): void {
    if (t.state === 'closing' || t.state === 'dead') return;
    out.push(logEvent('warn', 'l2tp.SendStopCCN', { ...this.fields(t), reason, resultCode: result, errorCode: error }));
    this.sessionsDown(t, reason, out);
    t.state = 'closing';
    this.unindex(t);
    this.sendControl(t, 0, buildStopCcn(t.tunnelId, result, error, reason), now, out);
  }

  // ----------------------------------------------------------------- sessions

  private handleIcrq(t: Tunnel, msg: ControlMessage, now: number, out: L2tpOutput[]): void {
    const peerSid = msg.attrs.assignedSessionId;
    out.push(logEvent('info', 'l2tp.RecvICRQ', { ...this.fields(t), peerSessionId: peerSid }));
    if (peerSid === undefined || peerSid === 0) return this.drop('icrq-no-session-id', now, out, this.fields(t));
    if (t.state !== 'established') {
      // ICRQ before SCCCN (RFC 2661 §7.2.1): refuse the call.
      this.sendCdn(t, peerSid, 0, CdnResult.GeneralError, ErrorCode.NoControlConnection, 'ICRQ before SCCCN', now, out);
      return;
    }
    if (t.sessions.size >= this.maxSessions) {
      this.sendCdn(t, peerSid, 0, CdnResult.TemporaryLackOfFacilities, ErrorCode.InsufficientResources, 'too many sessions', now, out);
      return;
    }
    const sessionId = this.allocId((id) => t.sessions.has(id));
    if (sessionId === undefined) {
      this.sendCdn(t, peerSid, 0, CdnResult.TemporaryLackOfFacilities, ErrorCode.InsufficientResources, 'no session id', now, out);
      return;
    }
    const s: Session = {
      key: `${t.peerKey}/${t.tunnelId}/${sessionId}`,
      sessionId,
      peerSessionId: peerSid,
      state: 'wait-connect',
      tunnel: t,
      createdAt: now,
      sequencing: false,
      dataNs: 0,
    };
    if (msg.attrs.callSerialNumber !== undefined) s.callSerialNumber = msg.attrs.callSerialNumber;
    t.sessions.set(sessionId, s);
    t.pendingSessions++;
    this.sessions.set(s.key, s);
    this.sendControl(t, peerSid, buildIcrp(sessionId), now, out);
    out.push(logEvent('info', 'l2tp.SendICRP', this.fields(t, s)));
  }

  private handleIccn(t: Tunnel, m: Inbound, out: L2tpOutput[]): void {
    const s = t.sessions.get(m.sessionId);
    out.push(logEvent('info', 'l2tp.RecvICCN', { ...this.fields(t, s), sessionId: m.sessionId }));
    if (s === undefined || s.state !== 'wait-connect') return;
    const a = m.msg.attrs;
    s.state = 'established';
    t.pendingSessions--;
    s.sequencing = a.sequencingRequired === true;
    if (a.txConnectSpeed !== undefined) s.txConnectSpeed = a.txConnectSpeed;
    if (a.framingType !== undefined) s.framingType = a.framingType;
    out.push(logEvent('info', 'l2tp.session.start', { ...this.fields(t, s), txConnectSpeed: a.txConnectSpeed, sequencing: s.sequencing }));
    out.push({ type: 'session-up', sessionKey: s.key, peerKey: t.peerKey, tunnelId: t.tunnelId, sessionId: s.sessionId, peerHostName: t.peerHostName });
  }

  private handleCdn(t: Tunnel, m: Inbound, out: L2tpOutput[]): void {
    let s = t.sessions.get(m.sessionId);
    const peerSid = m.msg.attrs.assignedSessionId;
    if (m.sessionId === 0 && peerSid !== undefined) {
      // CDN before the peer learnt our session id: find it by the peer's.
      for (const c of t.sessions.values()) if (c.peerSessionId === peerSid) s = c;
    }
    const rc = m.msg.attrs.resultCode;
    const reason = `peer CDN: ${rc ? (CDN_RESULT_NAMES[rc.result] ?? `result ${rc.result}`) : 'no result code'}${rc?.message ? ` (${rc.message})` : ''}`;
    out.push(logEvent('info', 'l2tp.RecvCDN', { ...this.fields(t, s), reason, resultCode: rc?.result, errorCode: rc?.error, q931: m.msg.attrs.q931Cause?.cause }));
    if (s) this.freeSession(s, reason, out);
  }

  /** Refuse or end the session a message names (CDN), e.g. for an unknown mandatory AVP (RFC 2661 §4.1). */
  private rejectSessionMessage(t: Tunnel, m: Inbound, result: number, error: number | undefined, reason: string, now: number, out: L2tpOutput[]): void {
    const s = t.sessions.get(m.sessionId);
    if (s) {
      this.sendCdn(t, s.peerSessionId, s.sessionId, result, error, reason, now, out);
      this.freeSession(s, reason, out);
      return;
    }
    const peerSid = m.msg.attrs.assignedSessionId;
    if (peerSid !== undefined && peerSid !== 0) this.sendCdn(t, peerSid, 0, result, error, reason, now, out);
    else out.push(logEvent('warn', 'l2tp.session.rejected', { ...this.fields(t), reason }));
  }

  private sendCdn(t: Tunnel, peerSid: number, ourSid: number, result: number, error: number | undefined, reason: string, now: number, out: L2tpOutput[]): void {
    out.push(logEvent('info', 'l2tp.SendCDN', { ...this.fields(t), sessionId: ourSid, peerSessionId: peerSid, reason, resultCode: result, errorCode: error }));
    this.sendControl(t, peerSid, buildCdn(ourSid, result, error, reason), now, out);
  }

  private freeSession(s: Session, reason: string, out: L2tpOutput[]): void {
    const t = s.tunnel;
    if (!t.sessions.delete(s.sessionId)) return;
    this.sessions.delete(s.key);
    if (s.state === 'wait-connect') t.pendingSessions--;
    out.push(logEvent('info', 'l2tp.session.stop', { ...this.fields(t, s), reason }));
    // Only sessions that came up were announced to the PPP layer.
    if (s.state === 'established') out.push({ type: 'session-down', sessionKey: s.key, reason });
  }

  private sessionsDown(t: Tunnel, reason: string, out: L2tpOutput[]): void {
    for (const s of [...t.sessions.values()]) this.freeSession(s, reason, out);
  }

  // ------------------------------------------------------------ public API

  /** Wrap a PPP frame in an L2TP data message (RFC 2661 §3.1); S bit only when the peer asked for sequencing. */
  sendPpp(sessionKey: string, frame: Uint8Array): L2tpOutput[] {
    const s = this.sessions.get(sessionKey);
    if (s === undefined || s.state !== 'established') {
      this.counters.inc('l2tp.drop.send-unknown-session');
      return [];
    }
    const t = s.tunnel;
    const hl = s.sequencing ? 12 : 8;
    const data = Buffer.alloc(hl + frame.length);
    data.writeUInt16BE(FLAG_L | (s.sequencing ? FLAG_S : 0) | L2TP_VERSION, 0);
    data.writeUInt16BE(data.length & 0xffff, 2);
    data.writeUInt16BE(t.peerTunnelId, 4);
    data.writeUInt16BE(s.peerSessionId, 6);
    if (s.sequencing) {
      data.writeUInt16BE(s.dataNs, 8);
      s.dataNs = (s.dataNs + 1) & 0xffff;
    }
    data.set(frame, hl);
    return [{ type: 'send', peerKey: t.peerKey, data }];
  }

  /** Close a session with a CDN carrying `resultCode` (RFC 2661 §4.4.2), e.g. on PPP termination. */
  closeSession(sessionKey: string, resultCode: number, now: number, message?: string): L2tpOutput[] {
    const out: L2tpOutput[] = [];
    const s = this.sessions.get(sessionKey);
    if (s === undefined) return out;
    const t = s.tunnel;
    if (t.state === 'wait-ctl-conn' || t.state === 'established') {
      this.sendCdn(t, s.peerSessionId, s.sessionId, resultCode, message === undefined ? undefined : ErrorCode.NoError, message ?? 'closed', now, out);
    }
    this.freeSession(s, message ?? `closed (result ${resultCode})`, out);
    return out;
  }

  /** Close every tunnel of a peer; sends one StopCCN each when `send`, then frees them at once. */
  closePeer(peerKey: string, now: number, send: boolean): L2tpOutput[] {
    const out: L2tpOutput[] = [];
    const set = this.byPeer.get(peerKey);
    if (!set) return out;
    for (const t of [...set]) this.abort(t, send, StopCcnResult.GeneralRequestToClear, 'peer closed', now, out);
    return out;
  }

  /** StopCCN on every tunnel, everything freed. */
  shutdown(now: number): L2tpOutput[] {
    const out: L2tpOutput[] = [];
    for (const t of [...this.tunnels.values()]) this.abort(t, true, StopCcnResult.BeingShutDown, 'server shutting down', now, out);
    return out;
  }

  tick(now: number): L2tpOutput[] {
    const out: L2tpOutput[] = [];
    try {
      for (const t of [...this.tunnels.values()]) this.tickTunnel(t, now, out);
    } catch (e) {
      this.drop('internal-error', now, out, { error: e instanceof Error ? e.message : String(e) });
    }
    return out;
  }

  nextDeadline(): number | undefined {
    let next: number | undefined;
    const at = (v: number | undefined): void => {
      if (v !== undefined && (next === undefined || v < next)) next = v;
    };
    for (const t of this.tunnels.values()) {
      at(t.channel.deadline);
      if (t.state === 'dead') at(t.lingerUntil);
      else if (t.state === 'wait-ctl-conn' && t.channel.idle) at(t.createdAt + this.setupMs);
      else if (t.state === 'established') {
        if (this.helloMs > 0) at(t.lastHeard + this.helloMs);
        if (t.pendingSessions > 0) for (const s of t.sessions.values()) if (s.state === 'wait-connect') at(s.createdAt + this.setupMs);
      }
    }
    return next;
  }

  list(): L2tpTunnelInfo[] {
    const res: L2tpTunnelInfo[] = [];
    for (const t of this.tunnels.values()) {
      if (t.state === 'dead') continue;
      res.push({
        peerKey: t.peerKey,
        tunnelId: t.tunnelId,
        peerTunnelId: t.peerTunnelId,
        sessions: [...t.sessions.values()].map((s) => ({ sessionKey: s.key, sessionId: s.sessionId, peerSessionId: s.peerSessionId })),
      });
    }
    return res;
  }

  // --------------------------------------------------------------- internals

  private tickTunnel(t: Tunnel, now: number, out: L2tpOutput[]): void {
    if (t.state === 'dead') {
      if (t.lingerUntil !== undefined && now >= t.lingerUntil) this.freeTunnel(t, 'linger over', out);
      return;
    }
    const r = t.channel.onTimer(now);
    if (r === 'failed') {
      this.counters.inc('l2tp.tunnel.retransmit-limit');
      return this.freeTunnel(t, 'no acknowledgement after retransmissions', out);
    }
    for (const d of r) {
      this.counters.inc('l2tp.control.retransmit');
      this.emit(t, d, out);
    }
    // While our SCCRP is unacknowledged the retry limit governs; once acked, SCCCN must follow in time.
    if (t.state === 'wait-ctl-conn' && t.channel.idle && now >= t.createdAt + this.setupMs) {
      return this.stopTunnel(t, StopCcnResult.GeneralError, undefined, 'no SCCCN', now, out);
    }
    if (t.state !== 'established') return;
    if (t.pendingSessions > 0) {
      for (const s of [...t.sessions.values()]) {
        if (s.state === 'wait-connect' && now >= s.createdAt + this.setupMs) {
          this.sendCdn(t, s.peerSessionId, s.sessionId, CdnResult.Timeout, undefined, 'no ICCN', now, out);
          this.freeSession(s, 'no ICCN', out);
        }
      }
    }
    if (this.helloMs > 0 && now >= t.lastHeard + this.helloMs) {
      // RFC 2661 §6.5: HELLO after a period of silence; its loss ends the tunnel via the retry limit.
      t.lastHeard = now;
      this.sendControl(t, 0, buildHello(), now, out);
      this.counters.inc('l2tp.tx.HELLO');
    }
  }

  /** Send a StopCCN once (no retransmission) if asked, then free at once. */
  private abort(t: Tunnel, send: boolean, result: number, reason: string, now: number, out: L2tpOutput[]): void {
    if (send && t.state !== 'dead') {
      const ch = t.channel;
      out.push(logEvent('info', 'l2tp.SendStopCCN', { ...this.fields(t), reason, resultCode: result }));
      this.emit(t, buildStandalone(t.peerTunnelId, 0, ch.ns, ch.nr, buildStopCcn(t.tunnelId, result, undefined, reason)), out);
      ch.ns = (ch.ns + 1) & 0xffff;
    }
    this.freeTunnel(t, reason, out);
    void now;
  }

  private sendControl(t: Tunnel, sessionId: number, avps: Buffer, now: number, out: L2tpOutput[]): void {
    for (const d of t.channel.send(sessionId, avps, now)) this.emit(t, d, out);
  }

  private emit(t: Tunnel, data: Buffer, out: L2tpOutput[]): void {
    out.push({ type: 'send', peerKey: t.peerKey, data });
  }

  private tunnelDown(t: Tunnel, reason: string, out: L2tpOutput[]): void {
    if (t.downEmitted) return;
    t.downEmitted = true;
    out.push(logEvent('info', 'l2tp.tunnel.stop', { ...this.fields(t), reason }));
    out.push({ type: 'tunnel-down', peerKey: t.peerKey, tunnelId: t.tunnelId, reason });
  }

  private unindex(t: Tunnel): void {
    const k = `${t.peerKey}|${t.peerTunnelId}`;
    if (this.byPeerTid.get(k) === t) this.byPeerTid.delete(k);
  }

  /** Free everything of a tunnel: sessions (session-down), then tunnel-down. */
  private freeTunnel(t: Tunnel, reason: string, out: L2tpOutput[]): void {
    this.sessionsDown(t, reason, out);
    this.tunnelDown(t, reason, out);
    this.unindex(t);
    if (this.tunnels.get(t.tunnelId) === t) {
      this.tunnels.delete(t.tunnelId);
      const n = (this.perGroup.get(t.group) ?? 1) - 1;
      if (n > 0) this.perGroup.set(t.group, n);
      else this.perGroup.delete(t.group);
    }
    const set = this.byPeer.get(t.peerKey);
    if (set) {
      set.delete(t);
      if (set.size === 0) this.byPeer.delete(t.peerKey);
    }
    t.channel.abandon();
  }

  /** A random non-zero 16-bit id not in use. */
  private allocId(inUse: (id: number) => boolean): number | undefined {
    for (let i = 0; i < 32; i++) {
      const b = this.random(2);
      const id = ((b[0] ?? 0) << 8) | (b[1] ?? 0);
      if (id !== 0 && !inUse(id)) return id;
    }
    const b = this.random(2);
    const start = ((b[0] ?? 0) << 8) | (b[1] ?? 0);
    for (let i = 0; i < 0x10000; i++) {
      const id = (start + i) & 0xffff;
      if (id !== 0 && !inUse(id)) return id;
    }
    return undefined;
  }

  private fields(t: Tunnel, s?: Session): Record<string, unknown> {
    const f: Record<string, unknown> = { peer: t.peerKey, tunnelId: t.tunnelId, peerTunnelId: t.peerTunnelId, hostname: t.peerHostName };
    if (s) {
      f.sessionId = s.sessionId;
      f.peerSessionId = s.peerSessionId;
    }
    return f;
  }

  private drop(reason: string, now: number, out: L2tpOutput[], fields?: Record<string, unknown>): void {
    this.counters.inc(`l2tp.drop.${reason}`);
    const suppressed = this.limiter.allow(reason, now);
    if (suppressed >= 0) out.push(logEvent('warn', 'l2tp.drop', { reason, ...fields, ...(suppressed > 0 ? { suppressed } : {}) }));
  }
}
