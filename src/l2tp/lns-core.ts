import { flat } from '../core/flat.js';
import { randomPooled } from '../core/random.js';
import { Counters, logEvent } from '../core/index.js';
import { Drops } from '../core/drops.js';
import { CDN_RESULT_NAMES, CdnResult, ErrorCode, MessageType } from './constants.js';
import type { ControlMessage } from './attributes.js';
import { buildCdn, buildIcrp, buildStopCcn } from './messages.js';
import { type ChannelConfig, DEFAULT_CHANNEL_CONFIG } from './reliable.js';
import { Registry } from './registry.js';
import type { Inbound, Session, Tunnel } from './tunnel.js';
import type { L2tpOutput, L2tpServerConfig } from './types.js';

/**
 * Default limits. A client uses one tunnel with one session; a dead tunnel lingers 31 s
 * after StopCCN (RFC 2661 §5.7) and still counts, so a client that reconnects a few times
 * needs a few. Per peer group = per outer address in the daemon (a carrier NAT may put
 * many clients behind one). One peer with the group PSK and no PPP login can hold at most
 * maxTunnelsPerPeer × maxSessionsPerTunnel sessions, not all of maxSessions.
 */
export const L2TP_LIMIT_DEFAULTS = {
  maxTunnels: 10000,
  maxTunnelsPerPeer: 128,
  maxSessionsPerTunnel: 8,
  maxSessions: 16384,
} as const;

/**
 * State, helpers and incoming-call handling (RFC 2661 §7.4.2) shared by the
 * LNS; L2tpServer (server.ts) adds packet dispatch, the control connection
 * and the public API.
 */
export abstract class LnsCore {
  protected readonly secret: Buffer | undefined;
  protected readonly helloMs: number;
  protected readonly setupMs: number;
  protected readonly maxTunnels: number;
  protected readonly maxPerPeer: number;
  protected readonly maxSessions: number;
  protected readonly maxSessionsTotal: number;
  protected readonly channelCfg: ChannelConfig;
  protected readonly random: (n: number) => Buffer;
  readonly counters: Counters;
  /**
   * Drops (core drop facility): counted as l2tp.drop.<reason>; their lines, and those about
   * refusals, 5 per reason per 10 s for all peers together.
   */
  protected readonly drops: Drops;
  protected readonly reg: Registry;
  protected readonly tunnels: Map<number, Tunnel>;
  protected readonly sessions: Map<string, Session>;

  constructor(protected readonly cfg: L2tpServerConfig) {
    this.secret = cfg.secret && cfg.secret.length > 0 ? cfg.secret : undefined;
    this.helloMs = (cfg.helloInterval ?? 60) * 1000;
    this.setupMs = (cfg.setupTimeout ?? 30) * 1000;
    this.maxTunnels = cfg.maxTunnels ?? L2TP_LIMIT_DEFAULTS.maxTunnels;
    this.maxPerPeer = cfg.maxTunnelsPerPeer ?? L2TP_LIMIT_DEFAULTS.maxTunnelsPerPeer;
    this.maxSessions = cfg.maxSessionsPerTunnel ?? L2TP_LIMIT_DEFAULTS.maxSessionsPerTunnel;
    this.maxSessionsTotal = cfg.maxSessions ?? L2TP_LIMIT_DEFAULTS.maxSessions;
    this.channelCfg = { ...DEFAULT_CHANNEL_CONFIG, ...cfg.channel };
    this.random = cfg.random ?? randomPooled;
    this.counters = cfg.counters ?? new Counters('l2tp');
    this.drops = new Drops({ counters: this.counters, counterPrefix: 'l2tp.drop.', event: 'l2tp.drop', limitKey: '' });
    this.reg = new Registry(this.random);
    this.tunnels = this.reg.tunnels;
    this.sessions = this.reg.sessions;
  }

  /** We clear the control connection: StopCCN (reliable), sessions down now, tunnel freed once acked. */
  protected stopTunnel(t: Tunnel, result: number, error: number | undefined, reason: string, now: number, out: L2tpOutput[]): void {
    if (t.state === 'closing' || t.state === 'dead') return;
    out.push(logEvent('warn', 'l2tp.SendStopCCN', { ...this.fields(t), reason, resultCode: result, errorCode: error }));
    this.sessionsDown(t, reason, out);
    t.state = 'closing';
    this.reg.unindexPeerTunnelId(t);
    this.sendControl(t, 0, buildStopCcn(t.tunnelId, result, error, reason), now, out);
  }

  // ----------------------------------------------------------------- sessions

  protected handleIcrq(t: Tunnel, msg: ControlMessage, now: number, out: L2tpOutput[]): void {
    const peerSid = msg.attrs.assignedSessionId;
    if (peerSid === undefined || peerSid === 0) return this.drop('icrq-no-session-id', now, out, this.fields(t));
    let refusal: [number, number, string] | undefined;
    let sessionId: number | undefined;
    // ICRQ before SCCCN (RFC 2661 §7.2.1) or over a limit: refuse the call.
    if (t.state !== 'established') refusal = [CdnResult.GeneralError, ErrorCode.NoControlConnection, 'ICRQ before SCCCN'];
    else if (t.sessions.size >= this.maxSessions || this.sessions.size >= this.maxSessionsTotal) {
      refusal = [CdnResult.TemporaryLackOfFacilities, ErrorCode.InsufficientResources, 'too many sessions'];
    } else {
      sessionId = this.reg.allocId((id) => t.sessions.has(id));
      if (sessionId === undefined) refusal = [CdnResult.TemporaryLackOfFacilities, ErrorCode.InsufficientResources, 'no session id'];
    }
    if (refusal || sessionId === undefined) {
      const [result, error, reason] = refusal ?? [CdnResult.GeneralError, ErrorCode.NoError, 'refused'];
      this.counters.inc('l2tp.icrq.refused');
      // Refusals are logged at a limited rate: an ICRQ flood must not flood the log.
      const loud = this.drops.limiter.allow('icrq-refused', undefined, now) >= 0;
      if (loud) out.push(logEvent('info', 'l2tp.RecvICRQ', { ...this.fields(t), peerSessionId: peerSid }));
      this.sendCdn(t, peerSid, 0, result, error, reason, now, out, loud);
      return;
    }
    out.push(logEvent('info', 'l2tp.RecvICRQ', { ...this.fields(t), peerSessionId: peerSid }));
    const s: Session = {
      key: flat(t.peerKey, '/', t.tunnelId, '/', sessionId),
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

  protected handleIccn(t: Tunnel, m: Inbound, out: L2tpOutput[]): void {
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

  protected handleCdn(t: Tunnel, m: Inbound, out: L2tpOutput[]): void {
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
  protected rejectSessionMessage(t: Tunnel, m: Inbound, result: number, error: number | undefined, reason: string, now: number, out: L2tpOutput[]): void {
    // A call request (ICRQ, OCRQ) names no session of ours: refuse it by its Assigned Session ID only.
    const request = m.msg.messageType === MessageType.ICRQ || m.msg.messageType === MessageType.OCRQ;
    const s = request ? undefined : t.sessions.get(m.sessionId);
    if (s) {
      this.sendCdn(t, s.peerSessionId, s.sessionId, result, error, reason, now, out);
      this.freeSession(s, reason, out);
      return;
    }
    const peerSid = m.msg.attrs.assignedSessionId;
    if (peerSid !== undefined && peerSid !== 0) this.sendCdn(t, peerSid, 0, result, error, reason, now, out);
    else out.push(logEvent('warn', 'l2tp.session.rejected', { ...this.fields(t), reason }));
  }

  protected sendCdn(t: Tunnel, peerSid: number, ourSid: number, result: number, error: number | undefined, reason: string, now: number, out: L2tpOutput[], log = true): void {
    if (log) out.push(logEvent('info', 'l2tp.SendCDN', { ...this.fields(t), sessionId: ourSid, peerSessionId: peerSid, reason, resultCode: result, errorCode: error }));
    this.sendControl(t, peerSid, buildCdn(ourSid, result, error, reason), now, out);
  }

  protected freeSession(s: Session, reason: string, out: L2tpOutput[]): void {
    const t = s.tunnel;
    if (!t.sessions.delete(s.sessionId)) return;
    this.sessions.delete(s.key);
    if (s.state === 'wait-connect') t.pendingSessions--;
    out.push(logEvent('info', 'l2tp.session.stop', { ...this.fields(t, s), reason }));
    // Only sessions that came up were announced to the PPP layer.
    if (s.state === 'established') out.push({ type: 'session-down', sessionKey: s.key, reason });
  }

  protected sessionsDown(t: Tunnel, reason: string, out: L2tpOutput[]): void {
    for (const s of [...t.sessions.values()]) this.freeSession(s, reason, out);
  }

  protected sendControl(t: Tunnel, sessionId: number, avps: Buffer, now: number, out: L2tpOutput[]): void {
    for (const d of t.channel.send(sessionId, avps, now)) this.emit(t, d, out);
  }

  protected emit(t: Tunnel, data: Buffer, out: L2tpOutput[]): void {
    out.push({ type: 'send', peerKey: t.peerKey, data });
  }

  protected tunnelDown(t: Tunnel, reason: string, out: L2tpOutput[]): void {
    if (t.downEmitted) return;
    t.downEmitted = true;
    out.push(logEvent('info', 'l2tp.tunnel.stop', { ...this.fields(t), reason }));
    out.push({ type: 'tunnel-down', peerKey: t.peerKey, tunnelId: t.tunnelId, reason });
  }

  /** Free everything of a tunnel: sessions (session-down), then tunnel-down. */
  protected freeTunnel(t: Tunnel, reason: string, out: L2tpOutput[]): void {
    this.sessionsDown(t, reason, out);
    this.tunnelDown(t, reason, out);
    this.reg.removeTunnel(t);
    t.channel.abandon();
  }

  protected fields(t: Tunnel, s?: Session): Record<string, unknown> {
    const f: Record<string, unknown> = { peer: t.peerKey, tunnelId: t.tunnelId, peerTunnelId: t.peerTunnelId, hostname: t.peerHostName };
    if (s) {
      f.sessionId = s.sessionId;
      f.peerSessionId = s.peerSessionId;
    }
    return f;
  }

  protected drop(reason: string, now: number, out: L2tpOutput[], fields?: Record<string, unknown>): void {
    const ev = this.drops.drop(reason, now, { fields });
    if (ev) out.push(ev);
  }
}
