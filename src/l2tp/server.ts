import { timingSafeEqual } from 'node:crypto';
import { isDecodeError, logEvent } from '../core/index.js';
import { type ControlMessage, decodeControlMessage } from './attributes.js';
import {
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
import { FLAG_L, FLAG_O, FLAG_P, FLAG_S, FLAG_T, L2TP_VERSION, type L2tpHeader, decodeHeader } from './header.js';
import { challengeResponse } from './hidden.js';
import { buildHello, buildSccrp, buildStandalone, buildStopCcn } from './messages.js';
import { DeadlineQueue } from '../core/heap.js';
import { LnsCore } from './lns-core.js';
import { ControlChannel } from './reliable.js';
import type { Inbound, Session, Tunnel } from './tunnel.js';
import type { L2tpOutput, L2tpServerConfig, L2tpTunnelInfo } from './types.js';

export type { L2tpOutput, L2tpServerConfig, L2tpTunnelInfo } from './types.js';

/** Bytes to leave free before a frame passed to sendPppInPlace (the largest data header). */
export const DATA_HEADROOM = 12;

/** A full retransmission cycle (1+2+4+8+8+8 s): how long a dead tunnel re-acks a StopCCN (RFC 2661 §5.7). */
const LINGER_MS = 31_000;

/**
 * L2TP network server (LNS), RFC 2661. Sans-I/O: datagrams in with the
 * peer key the daemon assigns, outputs out; time is passed in (`now`, ms).
 */
export class L2tpServer extends LnsCore {
  /** The tunnels' deadlines: re-filed after every call that ran a tunnel's messages or timers. */
  private readonly deadlines: DeadlineQueue<Tunnel>;

  constructor(cfg: L2tpServerConfig) {
    super(cfg);
    this.deadlines = new DeadlineQueue<Tunnel>(
      (t) => this.tunnelDeadline(t),
      (t) => this.tunnels.get(t.tunnelId) === t,
    );
  }

  private refile(t: Tunnel): void {
    if (this.tunnels.get(t.tunnelId) === t) this.deadlines.touch(t);
  }

  protected override freeTunnel(t: Tunnel, reason: string, out: L2tpOutput[]): void {
    super.freeTunnel(t, reason, out);
    if (this.tunnels.get(t.tunnelId) !== t) this.deadlines.forget(t);
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

  /** Set by dataFast: where the PPP frame lies in the datagram it was given. */
  fastStart = 0;
  fastEnd = 0;

  /**
   * The hot path of receive() for a data message of an established session
   * from that tunnel's own peer: the session's key, with the PPP frame at
   * data[fastStart, fastEnd) (nothing allocated). undefined for anything
   * else, control or unknown or odd (an offset field): receive() then
   * handles it, counts and drops as it does.
   */
  dataFast(data: Uint8Array, peerKey: string, now: number): string | undefined {
    const n = data.length;
    if (n < 6) return undefined;
    const f0 = data[0]!;
    // T clear, version 2, O and P clear (RFC 2661 §3.1); L and S may be set
    if ((f0 & ((FLAG_T | FLAG_O | FLAG_P) >> 8)) !== 0 || (data[1]! & 0x0f) !== 2) return undefined;
    let at = 2;
    let end = n;
    const seq = (f0 & (FLAG_S >> 8)) !== 0 ? 4 : 0;
    if ((f0 & (FLAG_L >> 8)) !== 0) {
      end = (data[2]! << 8) | data[3]!;
      at = 4;
      if (end < at + 4 + seq || end > n) return undefined;
    }
    if (at + 4 + seq > end) return undefined;
    const t = this.tunnels.get((data[at]! << 8) | data[at + 1]!);
    if (t === undefined || t.peerKey !== peerKey || t.state !== 'established') return undefined;
    const s = t.sessions.get((data[at + 2]! << 8) | data[at + 3]!);
    if (s === undefined || s.state !== 'established') return undefined;
    t.lastHeard = now;
    this.counters.inc('l2tp.data.rx');
    this.fastStart = at + 4 + seq;
    this.fastEnd = end;
    return s.key;
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
    // A copy: decoded AVP values are views, and an out-of-order message is held
    // past this call while the daemon may reuse its receive buffer.
    const msg = decodeControlMessage(Buffer.from(data.subarray(h.payloadOffset, h.payloadEnd)), this.secret);
    const ns = h.ns ?? 0;
    const nr = h.nr ?? 0;
    if (h.tunnelId === 0) {
      if (msg === null || msg.messageType !== MessageType.SCCRQ) return this.drop('tunnel-id-zero', now, out);
      return this.handleSccrq(h, msg, peerKey, now, out);
    }
    const t = this.tunnels.get(h.tunnelId);
    if (t === undefined || t.peerKey !== peerKey) return this.drop('unknown-tunnel', now, out, { peer: peerKey, tunnelId: h.tunnelId });
    try {
      this.onTunnelMessage(t, ns, nr, msg === null ? null : { sessionId: h.sessionId, msg }, now, out);
    } finally {
      this.refile(t);
    }
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
    // RFC 2661 §5.8 ack policy: immediate. Every message that has a reply
    // (SCCRQ, ICRQ) got it above and the reply carries our Nr; the others
    // (SCCCN, ICCN, CDN, HELLO, WEN, SLI, duplicates) get a ZLB now, in the
    // same receive() call. The daemon's next control message for this tunnel
    // arrives at an unrelated time, so a delayed ack would rarely piggyback
    // and would only keep the peer's retransmission timer closer to firing.
    const zlb = t.channel.zlbIfNeeded();
    if (zlb) this.emit(t, zlb, out);
    if (t.state === 'closing' && t.channel.idle) this.freeTunnel(t, 'StopCCN acknowledged', out);
  }

  private dispatch(t: Tunnel, m: Inbound, now: number, out: L2tpOutput[]): void {
    const { msg } = m;
    const type = msg.messageType;
    // Unknown types share one counter so a peer cannot grow the counter map.
    this.counters.inc(MESSAGE_TYPE_NAMES[type] === undefined ? 'l2tp.rx.unknown' : `l2tp.rx.${messageTypeName(type)}`);
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
    const existing = this.reg.byPeerTunnelId(peerKey, peerTid);
    if (existing && (existing.state === 'wait-ctl-conn' || existing.state === 'established')) {
      // A retransmitted SCCRQ: a duplicate on the existing tunnel, never a second tunnel.
      this.counters.inc('l2tp.sccrq.retransmit');
      return this.onTunnelMessage(existing, ns, h.nr ?? 0, { sessionId: h.sessionId, msg }, now, out);
    }
    const hostName = a.hostName ?? '';
    const recvLog = logEvent('info', 'l2tp.RecvSCCRQ', { peer: peerKey, peerTunnelId: peerTid, hostname: hostName, vendor: a.vendorName });
    const refuse = (result: number, error: number | undefined, reason: string): void => {
      this.counters.inc('l2tp.sccrq.refused');
      // Refusals are logged at a limited rate: an SCCRQ flood must not flood the log.
      if (this.drops.limiter.allow('sccrq-refused', undefined, now) >= 0) {
        out.push(recvLog);
        out.push(logEvent('warn', 'l2tp.SendStopCCN', { peer: peerKey, peerTunnelId: peerTid, hostname: hostName, reason }));
      }
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
    if (this.tunnels.size >= this.maxTunnels || this.reg.groupCount(group) >= this.maxPerPeer) {
      return refuse(StopCcnResult.GeneralError, ErrorCode.InsufficientResources, 'too many tunnels');
    }
    const tunnelId = this.reg.allocId((id) => this.tunnels.has(id));
    if (tunnelId === undefined) return refuse(StopCcnResult.GeneralError, ErrorCode.InsufficientResources, 'no tunnel id');
    out.push(recvLog);
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
    this.reg.addTunnel(t);
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
    this.refile(t);
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
    this.reg.unindexPeerTunnelId(t);
  }

  // ------------------------------------------------------------ public API

  /** Wrap a PPP frame in an L2TP data message (RFC 2661 §3.1); S bit only when the peer asked for sequencing. */
  sendPpp(sessionKey: string, frame: Uint8Array): L2tpOutput[] {
    const s = this.dataSession(sessionKey, frame.length);
    if (s === undefined) return [];
    const hl = s.sequencing ? 12 : 8;
    const data = Buffer.alloc(hl + frame.length);
    data.set(frame, hl);
    this.writeDataHeader(s, data, 0, data.length);
    return [{ type: 'send', peerKey: s.tunnel.peerKey, data }];
  }

  /**
   * sendPpp without a copy: the frame is buf[start, end) and at least
   * DATA_HEADROOM bytes before `start` are free; the L2TP header is written
   * there and the datagram is a view of buf.
   */
  sendPppInPlace(sessionKey: string, buf: Buffer, start: number, end: number): L2tpOutput[] {
    const s = this.dataSession(sessionKey, end - start);
    if (s === undefined) return [];
    const hl = s.sequencing ? 12 : 8;
    if (start < hl || end > buf.length || end < start) {
      this.drops.count('send-no-headroom');
      return [];
    }
    this.writeDataHeader(s, buf, start - hl, end);
    return [{ type: 'send', peerKey: s.tunnel.peerKey, data: buf.subarray(start - hl, end) }];
  }

  /**
   * The data header for a frame of `frameLength` bytes that the caller places
   * right after it: written at buf[at...]; returns its length (8, or 12 with
   * sequencing), or 0 when the session cannot send (counted).
   */
  writeDataHeaderFor(sessionKey: string, frameLength: number, buf: Buffer, at: number): number {
    const s = this.dataSession(sessionKey, frameLength);
    if (s === undefined) return 0;
    const hl = s.sequencing ? 12 : 8;
    if (at + hl > buf.length) {
      this.drops.count('send-no-headroom');
      return 0;
    }
    this.writeDataHeader(s, buf, at, at + hl + frameLength);
    return hl;
  }

  /** Tunnels (any state) the peer key has: 0 once the last one is freed. */
  peerTunnelCount(peerKey: string): number {
    return this.reg.peerCount(peerKey);
  }

  private dataSession(sessionKey: string, frameLength: number): Session | undefined {
    const s = this.sessions.get(sessionKey);
    if (s === undefined || s.state !== 'established') {
      this.drops.count('send-unknown-session');
      return undefined;
    }
    if (frameLength + 12 > 0xffff) {
      this.drops.count('send-too-long');
      return undefined;
    }
    return s;
  }

  /** Data message header, RFC 2661 §3.1: T=0, L=1, S only when sequencing; no offset. */
  private writeDataHeader(s: Session, buf: Buffer, at: number, end: number): void {
    buf.writeUInt16BE(FLAG_L | (s.sequencing ? FLAG_S : 0) | L2TP_VERSION, at);
    buf.writeUInt16BE((end - at) & 0xffff, at + 2);
    buf.writeUInt16BE(s.tunnel.peerTunnelId, at + 4);
    buf.writeUInt16BE(s.peerSessionId, at + 6);
    if (s.sequencing) {
      buf.writeUInt16BE(s.dataNs, at + 8);
      buf.writeUInt16BE(0, at + 10);
      s.dataNs = (s.dataNs + 1) & 0xffff;
    }
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
    this.refile(t);
    return out;
  }

  /** Close every tunnel of a peer; sends one StopCCN each when `send`, then frees them at once. */
  closePeer(peerKey: string, now: number, send: boolean, reason = 'peer closed'): L2tpOutput[] {
    const out: L2tpOutput[] = [];
    for (const t of this.reg.peerTunnels(peerKey)) this.abort(t, send, StopCcnResult.GeneralRequestToClear, reason, out);
    return out;
  }

  /** StopCCN on every tunnel, everything freed. */
  shutdown(now: number): L2tpOutput[] {
    const out: L2tpOutput[] = [];
    for (const t of [...this.tunnels.values()]) this.abort(t, true, StopCcnResult.BeingShutDown, 'server shutting down', out);
    return out;
  }

  tick(now: number): L2tpOutput[] {
    const out: L2tpOutput[] = [];
    // only the tunnels with a deadline due (every other tunnel's timers would do nothing now)
    const due = this.deadlines.due(now);
    try {
      for (const t of due) if (this.tunnels.get(t.tunnelId) === t) this.tickTunnel(t, now, out);
    } catch (e) {
      this.drop('internal-error', now, out, { error: e instanceof Error ? e.message : String(e) });
    }
    for (const t of due) this.refile(t);
    return out;
  }

  /** The earliest time tick() has work: O(log n) per call (a heap of the tunnels' deadlines). */
  nextDeadline(): number | undefined {
    return this.deadlines.next();
  }

  /** The same answer by a scan of every tunnel (tests compare the two). */
  nextDeadlineByScan(): number | undefined {
    let next: number | undefined;
    for (const t of this.tunnels.values()) {
      const d = this.tunnelDeadline(t);
      if (d !== undefined && (next === undefined || d < next)) next = d;
    }
    return next;
  }

  /** The earliest time one tunnel's timers have work: retransmission, linger, SCCCN and ICCN waits, HELLO. */
  private tunnelDeadline(t: Tunnel): number | undefined {
    let next: number | undefined;
    const at = (v: number | undefined): void => {
      if (v !== undefined && (next === undefined || v < next)) next = v;
    };
    at(t.channel.deadline);
    if (t.state === 'dead') at(t.lingerUntil);
    else if (t.state === 'wait-ctl-conn' && t.channel.idle) at(t.createdAt + this.setupMs);
    else if (t.state === 'established') {
      if (this.helloMs > 0) at(t.lastHeard + this.helloMs);
      if (t.pendingSessions > 0) for (const s of t.sessions.values()) if (s.state === 'wait-connect') at(s.createdAt + this.setupMs);
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
  private abort(t: Tunnel, send: boolean, result: number, reason: string, out: L2tpOutput[]): void {
    if (send && t.state !== 'dead') {
      const ch = t.channel;
      out.push(logEvent('info', 'l2tp.SendStopCCN', { ...this.fields(t), reason, resultCode: result }));
      this.emit(t, buildStandalone(t.peerTunnelId, 0, ch.ns, ch.nr, buildStopCcn(t.tunnelId, result, undefined, reason)), out);
      ch.ns = (ch.ns + 1) & 0xffff;
    }
    this.freeTunnel(t, reason, out);
  }

}
