import { randomPooled } from '../core/random.js';
import { Counters, RateLimiter } from '../core/counters.js';
import { Drops, perKey } from '../core/drops.js';
import { isDecodeError } from '../core/errors.js';
import { logEvent, type LogEvent } from '../core/log.js';
import { type Authenticator, MsChapV2Server, PapServer, type RemoteAttempt, type RemoteGrant, type RemoteVerdict } from './auth.js';
import { type ControlPacket, decodeControl, decodeFrame, encodeControlFrame } from './frame.js';
import { Fsm, type FsmSink, STATE } from './fsm.js';
import { IpcpHandler, type IpcpHooks } from './ipcp.js';
import { LcpKeepalive } from './keepalive.js';
import { LcpHandler, type LcpHooks } from './lcp.js';
import { CHAP_CODE_NAMES, CODE, codeName, PAP_CODE_NAMES, PROTO, protocolName } from './names.js';
import type { AddressPool } from './pool.js';
import type { PppAuthBackend, PppConfig, PppOutput, PppPhase, PppStatus, PppUser } from './types.js';

/**
 * One PPP link inside one L2TP session, server side (RFC 1661 §3.2 phases):
 * Establish (LCP) → Authenticate (MS-CHAPv2, or PAP if enabled) → Network
 * (IPCP) → IPv4. Sans-I/O: frames in, outputs out, time passed in.
 */

export type { PppAuthBackend, PppConfig, PppOutput, PppPhase, PppStatus, PppUser } from './types.js';


/** NCPs we do not run are Protocol-Rejected (RFC 1661 §5.7) once LCP is Opened. */
function isNcpOrUnknown(p: number): boolean {
  return p !== PROTO.IPCP;
}

export class PppSession {
  private out: PppOutput[] = [];
  private readonly lcpH: LcpHandler;
  private readonly ipcpH: IpcpHandler;
  private readonly lcp: Fsm;
  private readonly ipcp: Fsm;
  private auth: Authenticator | undefined;
  private phaseV: PppPhase = 'establish';
  private userV: string | undefined;
  private userRec: PppUser | undefined;
  private addressV: string | undefined;
  private closedV = false;
  private ipUpDone = false;
  private pendingClose: string | undefined;
  /** Failed authentication attempts in this session, across LCP renegotiations. */
  private authTries = 0;
  /** What a remote verifier (RADIUS) granted: a fixed address, session and idle timeouts. */
  private grant: RemoteGrant | undefined;
  /** When a Session-Timeout ends the session. */
  private sessionEnd: number | undefined;
  private now: number;
  private readonly random: (n: number) => Buffer;
  private readonly counters: Counters;
  private readonly limiter: RateLimiter;
  /** Drops (core drop facility): counted as drop.<reason>, lines rate-limited with the other peer-triggered lines; made at the first drop. */
  private dropsV: Drops | undefined;
  private get drops(): Drops {
    return (this.dropsV ??= new Drops({ counters: this.counters, counterPrefix: 'drop.', event: 'ppp.drop', limiter: perKey(this.limiter), limitKey: 'ppp.drop.' }));
  }
  /** Bounds Protocol-Rejects per session (a flood of unknown protocols gets at most 10 per 10 s). */
  private readonly sendLimiter = new RateLimiter(10, 10_000, 16);
  private readonly debugLimiter = new RateLimiter(50, 10_000, 64);
  private readonly debug: boolean;
  private idleMs: number;
  private lastTraffic = 0;
  private sentSinceTick = false;
  private readonly keepalive: LcpKeepalive;
  private rejectId = 0;
  private readonly sink: FsmSink;

  constructor(
    private readonly cfg: PppConfig,
    private readonly backend: PppAuthBackend,
    private readonly pool: AddressPool,
    now: number,
  ) {
    this.now = now;
    this.random = cfg.random ?? randomPooled;
    this.counters = cfg.counters ?? new Counters('ppp');
    this.limiter = cfg.rateLimiter ?? new RateLimiter(5, 10_000, 64);
    this.idleMs = Math.max(0, cfg.idleTimeout ?? 0) * 1000;
    this.keepalive = new LcpKeepalive(Math.max(0, cfg.lcpEchoInterval ?? 0) * 1000, Math.max(1, cfg.lcpEchoFailure ?? 5));
    this.debug = cfg.debug !== false;
    // one object carries LCP's hooks and both automatons' sink, one IPCP's (no closure per hook: a session lives for hours)
    const link = new PppSession.Link(this);
    this.sink = link;
    const methods = cfg.authProtocols && cfg.authProtocols.length > 0 ? cfg.authProtocols : ['mschapv2' as const];
    this.lcpH = new LcpHandler(link, cfg.mru ?? 1360, methods);
    this.lcpH.sink = link;
    this.ipcpH = new IpcpHandler(new PppSession.Ipcp(this), cfg.serverAddress, cfg.dns.length <= 2 ? cfg.dns : cfg.dns.slice(0, 2));
    this.ipcpH.sink = link;
    const seed = this.random(2);
    this.lcp = new Fsm(this.lcpH, link, { mru: this.lcpH }, seed[0]!);
    this.ipcp = new Fsm(this.ipcpH, link, { mru: this.lcpH }, seed[1]!);
  }

  /** LCP's hooks and the automatons' sink, for one session. */
  private static readonly Link = class implements LcpHooks, FsmSink {
    readonly debug: boolean;
    constructor(private readonly s: PppSession) {
      this.debug = s.debug;
    }
    random(n: number): Buffer {
      return this.s.random(n);
    }
    up(): void {
      this.s.lcpUp();
    }
    down(): void {
      this.s.lcpDown();
    }
    finished(reason: string): void {
      this.s.finish(reason);
    }
    protocolRejected(protocol: number): void {
      this.s.peerRejectedProtocol(protocol);
    }
    echoReplyReceived(): void {
      this.s.keepalive.replyReceived();
    }
    send(frame: Buffer): void {
      this.s.out.push({ type: 'send', frame });
    }
    log(ev: LogEvent): void {
      this.s.peerLog(ev);
    }
  };

  /** IPCP's hooks, for one session. */
  private static readonly Ipcp = class implements IpcpHooks {
    constructor(private readonly s: PppSession) {}
    peerAddress(requested?: string): string | undefined {
      return this.s.leaseAddress(requested);
    }
    up(address: string): void {
      this.s.ipcpUp(address);
    }
    down(): void {
      this.s.log('info', 'ppp.ipcp.down', {});
    }
    finished(reason: string): void {
      const s = this.s;
      if (s.phaseV !== 'terminate' && s.phaseV !== 'dead') s.pendingClose ??= `IPCP finished: ${reason}`;
    }
  };

  get user(): string | undefined {
    return this.userV;
  }

  get address(): string | undefined {
    return this.addressV;
  }

  get phase(): PppPhase {
    return this.phaseV;
  }

  /** LCP and IPCP automaton states, for status and tests. */
  get states(): { lcp: string; ipcp: string } {
    return { lcp: this.lcp.stateName, ipcp: this.ipcp.stateName };
  }

  /** A snapshot for status output (`l2tpsec status`, metrics). */
  status(now: number): PppStatus {
    const st: PppStatus = {
      phase: this.phaseV,
      lcp: this.lcp.stateName,
      ipcp: this.ipcp.stateName,
      auth: this.lcpH.auth,
      mru: this.lcpH.ourMru,
      peerMru: this.lcpH.peerMru,
    };
    if (this.userV !== undefined) st.user = this.userV;
    if (this.addressV !== undefined) st.address = this.addressV;
    if (this.ipcp.state === STATE.Opened) st.idleSeconds = Math.max(0, Math.floor((now - this.lastTraffic) / 1000));
    return st;
  }

  /** The peer's MRU (largest frame we may send it) once LCP is up. */
  get peerMru(): number {
    return this.lcpH.peerMru;
  }

  get dropCounters(): Counters {
    return this.counters;
  }

  /** Begin LCP: the lower layer (the L2TP session) is up; send our Configure-Request. */
  start(now: number): PppOutput[] {
    return this.run(now, () => {
      this.lcp.open(now);
      this.lcp.up(now);
    });
  }

  /** One PPP frame from the L2TP session. Never throws. */
  receive(frame: Uint8Array, now: number): PppOutput[] {
    // Fast path for the common case: FF 03 00 21 + IPv4 once IPCP is Opened.
    if (
      this.ipcpOpenedFast &&
      frame.length > 4 &&
      frame[0] === 0xff &&
      frame[1] === 0x03 &&
      frame[2] === 0x00 &&
      frame[3] === 0x21
    ) {
      this.lastTraffic = now;
      return [{ type: 'ipv4', packet: frame.subarray(4) }];
    }
    return this.run(now, () => this.handleFrame(frame, now));
  }

  /**
   * The hot path of receive(): true when data[start, end) is FF 03 00 21 and
   * an IPv4 packet while IPCP is Opened (the packet is data[start + 4, end),
   * and it counts as traffic), false when receive() must see the frame.
   */
  ipv4Frame(data: Uint8Array, start: number, end: number, now: number): boolean {
    if (
      end - start <= 4 ||
      data[start] !== 0xff ||
      data[start + 1] !== 0x03 ||
      data[start + 2] !== 0x00 ||
      data[start + 3] !== 0x21 ||
      !this.ipcpOpenedFast
    )
      return false;
    this.lastTraffic = now;
    return true;
  }

  /** True while IPv4 may flow (IPCP Opened and the session not closed). */
  private get ipcpOpenedFast(): boolean {
    return !this.closedV && this.ipcp.state === STATE.Opened;
  }

  /** Frame an IPv4 packet for the client: FF 03 00 21 + packet, one allocation. */
  encapsulateIpv4(packet: Uint8Array): Buffer {
    const b = Buffer.alloc(4 + packet.length);
    b[0] = 0xff;
    b[1] = 0x03;
    b[2] = 0x00;
    b[3] = 0x21;
    b.set(packet, 4);
    this.sentSinceTick = true;
    return b;
  }

  /**
   * Zero-copy variant for a caller that places the IPv4 packet right after
   * buf[offset..offset+4): writes FF 03 00 21 there. With `now` the idle
   * timer restarts at that time; without, at the next tick.
   */
  writeIpv4Header(buf: Uint8Array, offset: number, now?: number): void {
    buf[offset] = 0xff;
    buf[offset + 1] = 0x03;
    buf[offset + 2] = 0x00;
    buf[offset + 3] = 0x21;
    if (now === undefined) this.sentSinceTick = true;
    else if (now > this.lastTraffic) this.lastTraffic = now;
  }

  /** The remote verifier's answer to the last 'auth-request' (ignored when none is pending). */
  authComplete(verdict: RemoteVerdict, now: number): PppOutput[] {
    return this.run(now, () => this.auth?.complete?.(verdict, now));
  }

  /** An 'auth-request' is waiting for its answer. */
  get authPending(): boolean {
    return this.auth?.pending === true;
  }

  /** Administrative close: LCP Terminate-Request, then 'closed' on Terminate-Ack or after Max-Terminate timeouts. */
  close(reason: string, now: number): PppOutput[] {
    return this.run(now, () => this.beginClose(reason, now));
  }

  /** The L2TP session is gone: no more frames can be sent; release everything now. */
  lowerDown(reason: string, now: number): PppOutput[] {
    return this.run(now, () => {
      if (this.closedV) return;
      this.phaseV = 'terminate';
      this.ipcp.down(now);
      this.lcp.down(now);
      this.out = this.out.filter((o) => o.type !== 'send');
      this.finish(reason);
    });
  }

  tick(now: number): PppOutput[] {
    return this.run(now, () => {
      this.lcp.tick(now);
      this.ipcp.tick(now);
      this.auth?.tick(now);
      if (this.sentSinceTick) {
        this.sentSinceTick = false;
        this.lastTraffic = now;
      }
      if (this.sessionEnd !== undefined && now >= this.sessionEnd && this.phaseV === 'network') {
        this.log('info', 'ppp.session-timeout', { user: this.userV, seconds: this.grant?.sessionTimeout });
        this.sessionEnd = undefined;
        this.beginClose('session timeout', now);
      }
      if (this.idleMs > 0 && this.ipcp.state === STATE.Opened && now - this.lastTraffic >= this.idleMs) {
        this.log('info', 'ppp.idle-timeout', { user: this.userV, idleSeconds: this.idleMs / 1000 });
        this.beginClose('idle timeout', now);
      }
      if (this.lcp.state === STATE.Opened) {
        const k = this.keepalive.tick(now, this.lcpH.ourMagic);
        if (k && 'send' in k) this.out.push({ type: 'send', frame: k.send });
        else if (k) this.beginClose(k.dead, now);
      }
    });
  }

  nextDeadline(): number | undefined {
    if (this.closedV) return undefined;
    let d: number | undefined;
    const consider = (v: number | undefined): void => {
      if (v !== undefined && (d === undefined || v < d)) d = v;
    };
    consider(this.lcp.nextDeadline());
    consider(this.ipcp.nextDeadline());
    consider(this.auth?.nextDeadline());
    if (this.idleMs > 0 && this.ipcp.state === STATE.Opened) consider(this.lastTraffic + this.idleMs);
    if (this.phaseV === 'network') consider(this.sessionEnd);
    if (this.lcp.state === STATE.Opened) consider(this.keepalive.nextDeadline());
    return d;
  }

  // ---- internals ----

  private run(now: number, f: () => void): PppOutput[] {
    this.now = now;
    try {
      if (!this.closedV) f();
    } catch (e) {
      this.dropped(e);
    }
    try {
      if (this.pendingClose !== undefined && !this.closedV) {
        const r = this.pendingClose;
        this.pendingClose = undefined;
        this.beginClose(r, now);
      }
    } catch (e) {
      this.dropped(e);
    }
    const o = this.out;
    this.out = [];
    return o;
  }

  private dropped(e: unknown): void {
    const reason = isDecodeError(e) ? e.reason : 'internal-error';
    const ev = this.drops.drop(reason, this.now, {
      level: isDecodeError(e) ? 'debug' : 'error',
      fields: () => ({ message: e instanceof Error ? e.message : String(e) }),
    });
    if (ev) this.out.push(ev);
  }

  /** Decode a control packet and log it (debug). */
  private control(protocol: number, info: Uint8Array): ControlPacket {
    const p = decodeControl(info);
    const code = protocol === PROTO.LCP || protocol === PROTO.IPCP ? codeName(p.code) : (protocol === PROTO.CHAP ? CHAP_CODE_NAMES : PAP_CODE_NAMES)[p.code] ?? p.code;
    if (this.debug) this.peerLog(logEvent('debug', 'ppp.recv', { protocol: protocolName(protocol), code, id: p.id, length: p.data.length + 4 }));
    return p;
  }

  private handleFrame(frame: Uint8Array, now: number): void {
    const { protocol, info } = decodeFrame(frame);
    if (protocol === PROTO.LCP) {
      const p = this.control(protocol, info);
      this.lcp.receive(p.code, p.id, p.data, info.subarray(0, 4 + p.data.length), now);
      return;
    }
    // RFC 1661 §3.4: before LCP reaches Opened, non-LCP packets are silently discarded.
    if (this.lcp.state !== STATE.Opened) {
      this.drops.count('lcp-not-opened');
      return;
    }
    switch (protocol) {
      case PROTO.IPv4:
        if (this.ipcp.state !== STATE.Opened) {
          this.drops.count('ipcp-not-opened');
          return;
        }
        this.lastTraffic = now;
        this.out.push({ type: 'ipv4', packet: info });
        return;
      case PROTO.CHAP:
      case PROTO.PAP: {
        const p = this.control(protocol, info);
        const wanted = this.lcpH.auth === 'pap' ? PROTO.PAP : PROTO.CHAP;
        if (protocol !== wanted || this.auth === undefined) {
          // after IPCP came up the authenticator is gone (the peer had our Success): a late duplicate is dropped
          this.drops.count(protocol === wanted && this.ipUpDone ? 'auth-after-network' : 'auth-protocol-not-negotiated');
          return;
        }
        this.auth.receive(p.code, p.id, p.data, now);
        return;
      }
      case PROTO.IPCP: {
        // RFC 1661 §3.5: NCP packets before the Network phase are discarded.
        if (this.phaseV !== 'network') {
          this.drops.count('ncp-before-network');
          return;
        }
        this.auth?.peerInNetworkPhase?.();
        const p = this.control(protocol, info);
        this.ipcp.receive(p.code, p.id, p.data, info.subarray(0, 4 + p.data.length), now);
        return;
      }
      default:
        // any NCP (CCP, IPV6CP, ...) in the Network phase: the peer has our Success
        if (this.phaseV === 'network' && protocol >= 0x8000 && protocol < 0xc000) this.auth?.peerInNetworkPhase?.();
        if (isNcpOrUnknown(protocol)) this.protocolReject(protocol, info);
    }
  }

  /** RFC 1661 §5.7 Protocol-Reject: Rejected-Protocol + Rejected-Information, truncated to the peer's MRU. */
  private protocolReject(protocol: number, info: Uint8Array): void {
    if (this.sendLimiter.allow('protocol-reject', this.now) < 0) {
      this.drops.count('protocol-reject-rate');
      return;
    }
    const room = Math.max(0, this.lcpH.peerMru - 4 - 2);
    const data = Buffer.alloc(2 + Math.min(info.length, room));
    data.writeUInt16BE(protocol, 0);
    data.set(info.subarray(0, data.length - 2), 2);
    this.rejectId = (this.rejectId + 1) & 0xff;
    this.out.push({ type: 'send', frame: encodeControlFrame(PROTO.LCP, CODE.ProtocolReject, this.rejectId, data) });
    this.counters.inc('protocol-reject');
    if (this.limiter.allow(`ppp.protocol-reject.${protocol}`, this.now) >= 0) {
      this.log('debug', 'ppp.protocol-reject', { protocol: protocolName(protocol) });
    }
  }

  private lcpUp(): void {
    this.log('info', 'ppp.lcp.up', { mru: this.lcpH.ourMru, peerMru: this.lcpH.peerMru, auth: this.lcpH.auth });
    this.phaseV = 'authenticate';
    this.keepalive.start(this.now);
    const maxTries = Math.max(1, this.cfg.maxAuthTries ?? 3);
    if (this.userV === undefined && this.authTries >= maxTries) {
      // The retry cap holds across LCP renegotiation: no fresh set of tries by renegotiating.
      this.log('warn', 'ppp.auth.failure', { reason: `no more tries after ${this.authTries} failures`, final: true });
      this.pendingClose ??= 'authentication failed';
      return;
    }
    const opts = { serverName: this.cfg.serverName ?? 'l2tpsec', maxTries, triesUsed: this.authTries };
    const tracker = this.backend.failures;
    const peerAddress = this.cfg.peerAddress;
    const hooks = {
      random: this.random,
      send: (frame: Buffer) => this.out.push({ type: 'send' as const, frame }),
      log: (ev: LogEvent) => this.peerLog(ev),
      lookup: (name: string) => this.backend.lookup(name),
      admit: (name: string): { ok: true } | { ok: false; message: string } => {
        // Re-authentication after an LCP renegotiation: same user only, admitted once.
        if (this.userV !== undefined) return this.userV === name ? { ok: true } : { ok: false, message: 'user changed during the session' };
        return this.backend.admit(name);
      },
      success: (name: string) => {
        tracker?.success(name);
        this.authSuccess(name);
      },
      failure: (name: string, reason: string, final: boolean, checked: boolean) => {
        if (name) this.authTries++;
        this.out.push({ type: 'auth-failure', user: name, reason });
        this.log('warn', 'ppp.auth.failure', { user: name, reason, final, ...(peerAddress ? { peer: peerAddress } : {}) });
        if (checked && tracker) {
          const block = tracker.failure(name, peerAddress, this.now);
          if (block > 0) this.log('warn', 'ppp.auth.backoff', { user: name, peer: peerAddress, retryAfter: Math.ceil(block / 1000) });
        }
        if (final) this.pendingClose ??= name ? 'authentication failed' : reason;
      },
      ...(tracker ? { blocked: (name: string) => tracker.blockedFor(name, peerAddress, this.now) } : {}),
      ...(this.backend.remote ? { remote: (attempt: RemoteAttempt) => this.out.push({ type: 'auth-request', attempt }) } : {}),
      localFallback: this.backend.localFallback === true,
      granted: (_name: string, grant: RemoteGrant | undefined) => this.applyGrant(grant),
    };
    // Authentication starts only now, after LCP is Opened (iOS needs that: SE #1102).
    this.auth = this.lcpH.auth === 'pap' ? new PapServer(hooks, opts) : new MsChapV2Server(hooks, opts);
    this.auth.start(this.now);
  }

  /** RADIUS's Session-Timeout and Idle-Timeout replace ours; its Framed-IP-Address is leased at IPCP. */
  private applyGrant(grant: RemoteGrant | undefined): void {
    if (!grant || this.userV !== undefined) return; // re-authentication keeps the first grant
    this.grant = grant;
    if (grant.sessionTimeout !== undefined && grant.sessionTimeout > 0) this.sessionEnd = this.now + grant.sessionTimeout * 1000;
    if (grant.idleTimeout !== undefined && grant.idleTimeout > 0) this.idleMs = grant.idleTimeout * 1000;
  }

  private authSuccess(name: string): void {
    const first = this.userV === undefined;
    this.userV = name;
    this.userRec = this.backend.lookup(name);
    if (first) this.out.push({ type: 'auth-success', user: name });
    this.log('info', 'ppp.auth.success', { user: name, method: this.lcpH.auth });
    this.phaseV = 'network';
    this.ipcp.open(this.now);
    this.ipcp.up(this.now);
  }

  private lcpDown(): void {
    this.log('info', 'ppp.lcp.down', {});
    this.keepalive.stop();
    this.auth = undefined;
    this.ipcp.down(this.now);
    if (this.phaseV !== 'terminate' && this.phaseV !== 'dead') this.phaseV = 'establish';
  }

  private ipcpUp(address: string): void {
    this.ipUpDone = true;
    // The peer is in the Network phase with our Success: the authenticator (its hooks, the
    // challenge, the answer kept for duplicates) is not needed for the rest of the session.
    if (this.auth?.done === true) this.auth = undefined;
    this.lastTraffic = this.now;
    this.log('info', 'ppp.ipcp.up', { user: this.userV, address });
    this.out.push({ type: 'ip-up', user: this.userV ?? '', address });
  }

  private leaseAddress(requested?: string): string | undefined {
    if (this.userV === undefined) return undefined;
    // an address RADIUS assigned is this session's fixed address, like a users-file static one
    const stat = this.grant?.address ?? this.userRec?.staticAddress;
    if (this.addressV !== undefined) {
      // Before the first ip-up, a peer asking for another free pool address (Windows asks for its
      // previous one) may have it; never .0/.1/broadcast, another session's or a static address.
      if (stat === undefined && !this.ipUpDone && requested !== undefined && requested !== this.addressV && this.pool.isFreeDynamic(requested)) {
        this.pool.release(this.addressV);
        this.addressV = this.pool.allocate(this.userV, requested) ?? this.pool.allocate(this.userV);
      }
      return this.addressV;
    }
    let a: string | undefined;
    if (stat !== undefined) {
      if (this.pool.reserve(stat, this.userV)) a = stat;
      else {
        this.pendingClose ??= this.grant?.address !== undefined ? `address conflict: ${stat} from RADIUS is in use or outside the pool` : `static address ${stat} is not available`;
        this.log('warn', 'ppp.ipcp.static-address-unavailable', { user: this.userV, address: stat, ...(this.grant?.address !== undefined ? { from: 'radius' } : {}) });
        return undefined;
      }
    } else {
      a = this.pool.allocate(this.userV, requested);
    }
    if (a === undefined) {
      this.pendingClose ??= 'address pool exhausted';
      this.log('warn', 'ppp.ipcp.pool-exhausted', { user: this.userV, poolSize: this.pool.size });
      return undefined;
    }
    this.addressV = a;
    return a;
  }

  private peerRejectedProtocol(p: number): void {
    this.log('info', 'ppp.peer-protocol-reject', { protocol: protocolName(p) });
    if (p === PROTO.IPCP) this.ipcp.protocolRejected('peer rejected IPCP', this.now);
    else if ((p === PROTO.CHAP || p === PROTO.PAP) && this.phaseV === 'authenticate') this.pendingClose ??= 'peer rejected the authentication protocol';
  }

  private beginClose(reason: string, now: number): void {
    if (this.closedV || this.phaseV === 'terminate') return;
    this.phaseV = 'terminate';
    this.log('info', 'ppp.closing', { reason, user: this.userV });
    if (this.ipcp.state === STATE.Opened || this.ipcp.state >= STATE.ReqSent) this.ipcp.close(reason, now);
    this.lcp.close(reason, now);
    // From Closed/Stopped the table sends nothing and never reaches tlf: finish here.
    if (this.lcp.state === STATE.Closed || this.lcp.state === STATE.Initial) this.finish(reason);
  }

  /** Every teardown path ends here: the lease is returned and 'closed' is emitted once. */
  private finish(reason: string): void {
    if (this.closedV) return;
    this.closedV = true;
    this.phaseV = 'dead';
    this.auth = undefined;
    const address = this.addressV;
    if (address !== undefined) this.pool.release(address);
    this.log('info', 'ppp.closed', { reason, user: this.userV, address });
    const o: PppOutput = { type: 'closed', reason };
    if (this.userV !== undefined) o.user = this.userV;
    if (address !== undefined) o.address = address;
    this.out.push(o);
  }

  /**
   * Logs a peer can trigger at will (per-packet debug lines, unexpected codes):
   * rate-limited per event name, with the count of suppressed lines.
   */
  private peerLog(ev: LogEvent): void {
    if (ev.level === 'info') {
      this.out.push(ev);
      return;
    }
    if (ev.level === 'debug' && !this.debug) return;
    // the debug limiter is this session's alone: the event name is its key as it is
    const suppressed = ev.level === 'debug' ? this.debugLimiter.allow(ev.event, this.now) : this.limiter.allow(`ppp.${ev.event}`, this.now);
    if (suppressed < 0) return;
    this.out.push(suppressed > 0 ? { ...ev, fields: { ...ev.fields, suppressed } } : ev);
  }

  private log(level: LogEvent['level'], event: string, fields: Record<string, unknown>): void {
    this.out.push(logEvent(level, event, fields));
  }
}
