/**
 * The sans-I/O pipeline: IKE, ESP, L2TP, PPP and the forwarder composed into
 * one object that takes datagrams, TUN packets and `now`, and hands what to
 * send to a UDP port, what to write to a TUN port, and what happened to a
 * sink. It never reads a clock, sets a timer or opens a socket: the host arms
 * one timer at nextDeadline() and calls tick().
 *
 * Identity is bound once and carried as handles:
 *   IKE SA ─▶ lineage (an IPsec SA lineage: the client's child SAs and their
 *   rekeys, under one IKE identity) ─▶ route (lineage + inner UDP port: the
 *   L2TP peer) ─▶ L2TP tunnel/session ─▶ session handle ─▶ pool address.
 * An ESP packet reaches L2TP under the route of the SA that decrypted it, and
 * everything sent to a tunnel goes out on the newest SA of that tunnel's
 * lineage: two clients that share an outer address and port never meet.
 */
import { own } from '../core/bytes.js';
import { flat } from '../core/flat.js';
import type { Counters } from '../core/counters.js';
import { Counters as CountersImpl, RateLimiter } from '../core/counters.js';
import { logEvent, type LogEvent } from '../core/log.js';
import { endpointText, type ChildSaUp, type Endpoint, type EspTransform } from '../core/sa.js';
import { EspEngine, type EspEvent, type EspInbound, type EspOutbound } from '../esp/engine.js';
import type { CbcBatchProvider, GcmBatchProvider, HmacBatchProvider } from '../esp/hmac.js';
import { IkeResponder, type IkeOutput, type IkeResponderConfig } from '../ike/responder.js';
import { L2tpServer, type L2tpOutput, type L2tpServerConfig } from '../l2tp/server.js';
import { Forwarder } from '../nat/forwarder.js';
import { PppSession, type PppAuthBackend, type PppOutput, type PppUser } from '../ppp/session.js';
import { AuthFailureTracker } from '../ppp/auth-failures.js';
import { MinHeap } from './heap.js';
import { Lineages, type Lineage, type Route } from './lineage.js';
import { Ikev2Sessions, peekMajorVersion, type Ikev2Options } from './ikev2.js';
import type { PipelineSink, TunPort, UdpPort } from './ports.js';
import type { EapVerdict, RemoteAuthPort, RemoteVerdict } from './remote-auth.js';
import { SessionTable, type SessionHandle, type SessionRecord } from './table.js';

/** What the pipeline needs of the user store (src/daemon's UserStore has this shape). */
export interface UserDirectory {
  lookup(name: string): PppUser | undefined;
  get(name: string): { maxSessions?: number | undefined } | undefined;
  staticAddresses(): Iterable<string>;
  /** A user's IKEv2 pre-shared key (src/daemon's UserStore has it). */
  ikev2Key?(name: string): Buffer | undefined;
}

export interface PipelineOptions {
  psk: Buffer;
  cookieSecret: Buffer;
  allowLegacy: boolean;
  ikeLifetimeMax: number;
  childLifetimeMax: number;
  dpdIdle: number;
  hostName: string;
  l2tpSecret?: Buffer | undefined;
  helloInterval: number;
  pool: string;
  /** The server's tunnel address (the pool's first usable address). */
  serverAddress: string;
  dns: string[];
  mru: number;
  auth: Array<'mschapv2' | 'pap'>;
  idleTimeout: number;
  /** Seconds between our LCP Echo-Requests; default 0 (off). */
  lcpEchoInterval?: number;
  maxSessionsPerUser: number;
  /** Sessions in all, whatever their state; default 16384. */
  maxSessions?: number;
  /** Inner UDP ports (L2TP peers) one SA lineage may use; default 16. */
  maxRoutesPerLineage?: number;
  /** Sessions of one SA lineage that have not authenticated yet; default 4. */
  maxUnauthenticatedPerLineage?: number;
  /** What one address, identity or user may hold (config [limits]); the cores' defaults otherwise. */
  limits?: Partial<PipelineLimits>;
  counters?: Counters;
  random?: (n: number) => Buffer;
  /** Tests: extra IKE responder settings (e.g. forceEncapsulation). */
  ike?: Partial<IkeResponderConfig>;
  /** Tests: extra L2TP server settings (e.g. channel timing). */
  l2tp?: Partial<L2tpServerConfig>;
  /** Serve IKEv2 (EAP-MSCHAPv2 with the server's certificate) beside L2TP/IPsec. */
  ikev2?: Ikev2Options;
  /** Passwords checked by RADIUS (src/session/remote-auth.ts) instead of the users file. */
  remoteAuth?: RemoteAuthPort;
  /** false when the host drops debug lines: PPP then builds none (several per packet). Default true. */
  pppDebug?: boolean;
  /** ESP's HMAC and AES-GCM per batch in one native call (the host's addon); node:crypto per packet without them. */
  hmacBatch?: HmacBatchProvider | undefined;
  gcmBatch?: GcmBatchProvider | undefined;
  /** Outbound AES-CBC of a batch, several records interleaved (native/cbc.c); without it node:crypto. */
  cbcBatch?: CbcBatchProvider | undefined;
}

export interface PipelineLimits {
  halfOpenPerAddress: number;
  halfOpenTotal: number;
  ikeSasPerAddress: number;
  ikeSasPerIdentity: number;
  ikeSasTotal: number;
  childSasPerIkeSa: number;
  tunnelsPerAddress: number;
  /** L2TP tunnels in all (default 10000). */
  tunnelsTotal?: number;
  sessionsPerTunnel: number;
  /** Sessions in all, L2TP and IKEv2 (default 16384; `maxSessions` wins when set). */
  sessionsTotal?: number;
  authFailuresBeforeBackoff: number;
  /** Seconds. */
  authBackoffMax: number;
}

interface LiveSession {
  readonly rec: SessionRecord;
  readonly ppp: PppSession;
  readonly l2tpKey: string;
  readonly route: Route;
  /** The PPP deadline this session is queued under in the heap, if any. */
  due: number | undefined;
}

/** What status shows about a child SA. */
interface ChildInfo {
  natT: boolean;
  transform: string;
}

/** Room for the L2TP data header (with Ns/Nr) and the PPP header in front of an IPv4 packet. */
const HEAD_MAX = 16;

export interface SessionView {
  rec: SessionRecord;
  /** Where the client is now (its NAT mapping may have moved). */
  peer: string;
  natT: boolean | null;
  ike: string | null;
  esp: string | null;
  idle: number | null;
  phase: string;
}

export class Pipeline {
  /** A PPP session's view of users and the session table (an object per session, no closures: it lives as long as the session). */
  private static readonly Backend = class implements PppAuthBackend {
    readonly failures: AuthFailureTracker | undefined;
    readonly remote: boolean | undefined;
    readonly localFallback: boolean | undefined;
    constructor(
      private readonly p: Pipeline,
      private readonly handle: SessionHandle,
    ) {
      this.failures = p.authFailures;
      this.remote = p.opts.remoteAuth ? true : undefined;
      this.localFallback = p.opts.remoteAuth?.localFallback;
    }
    lookup(name: string): PppUser | undefined {
      return this.p.users.lookup(name);
    }
    admit(name: string): { ok: true } | { ok: false; message: string } {
      return this.p.table.admit(this.handle, name);
    }
  };

  readonly counters: Counters;
  readonly table: SessionTable;
  private readonly ike: IkeResponder;
  private readonly esp: EspEngine;
  private readonly l2tp: L2tpServer;
  private readonly forwarder: Forwarder<SessionHandle>;
  private users: UserDirectory;

  private readonly lineages = new Lineages();
  private readonly ikeAlgorithms = new Map<string, string>();
  private readonly children = new Map<string, ChildInfo>();

  private readonly live = new Map<SessionHandle, LiveSession>();
  private readonly byL2tpKey = new Map<string, LiveSession>();

  private ikeDue: number | undefined;
  private l2tpDue: number | undefined;
  private readonly pppDue = new MinHeap<SessionHandle>();
  /** Routes whose tunnels went down: dropped at the next tick when no tunnel is left. */
  private readonly routesToCheck = new Set<Route>();

  private espOut: EspOutbound[] = [];
  private tunOut: Buffer[] = [];
  private head = Buffer.alloc(HEAD_MAX * 256);
  private headPos = 0;
  private readonly maxRoutes: number;
  /** IKEv2 sessions, when served. */
  private readonly v2: Ikev2Sessions | undefined;
  private readonly maxUnauthenticated: number;
  /** MS-CHAPv2/PAP failures per user and per client address, across sessions (backoff). */
  private readonly authFailures: AuthFailureTracker;
  private readonly logLimiter = new RateLimiter(5, 10_000);
  /** The PPP sessions' counters ("ppp.<name>"), one view for all of them. */
  private readonly pppCounters: Counters;

  constructor(
    private readonly opts: PipelineOptions,
    users: UserDirectory,
    private readonly udp: UdpPort,
    private readonly tun: TunPort | undefined,
    private readonly sink: PipelineSink,
  ) {
    this.counters = opts.counters ?? new CountersImpl('daemon');
    this.pppCounters = this.counters.view('ppp.');
    this.users = users;
    this.maxRoutes = opts.maxRoutesPerLineage ?? 16;
    this.maxUnauthenticated = opts.maxUnauthenticatedPerLineage ?? 4;
    const lim = opts.limits ?? {};
    this.authFailures = new AuthFailureTracker({
      ...(lim.authFailuresBeforeBackoff !== undefined ? { freeFailures: lim.authFailuresBeforeBackoff } : {}),
      ...(lim.authBackoffMax !== undefined ? { maxDelayMs: lim.authBackoffMax * 1000 } : {}),
    });
    this.ike = new IkeResponder({
      psk: opts.psk,
      cookieSecret: opts.cookieSecret,
      allowLegacy: opts.allowLegacy,
      ikeLifetimeMax: opts.ikeLifetimeMax,
      childLifetimeMax: opts.childLifetimeMax,
      dpdIdle: opts.dpdIdle,
      counters: this.counters,
      ...pick(lim, ['halfOpenPerAddress', 'halfOpenTotal', 'ikeSasPerAddress', 'ikeSasPerIdentity', 'ikeSasTotal', 'childSasPerIkeSa']),
      ...(opts.random ? { random: opts.random } : {}),
      ...opts.ike,
    });
    this.esp = new EspEngine({ counters: this.counters, hmacBatch: opts.hmacBatch, gcmBatch: opts.gcmBatch, cbcBatch: opts.cbcBatch, ...(opts.random ? { random: opts.random } : {}) });
    this.l2tp = new L2tpServer({
      hostName: opts.hostName,
      ...(opts.l2tpSecret ? { secret: opts.l2tpSecret } : {}),
      helloInterval: opts.helloInterval,
      counters: this.counters,
      ...(lim.tunnelsPerAddress !== undefined ? { maxTunnelsPerPeer: lim.tunnelsPerAddress } : {}),
      ...(lim.sessionsPerTunnel !== undefined ? { maxSessionsPerTunnel: lim.sessionsPerTunnel } : {}),
      ...(lim.tunnelsTotal !== undefined ? { maxTunnels: lim.tunnelsTotal } : {}),
      ...(lim.sessionsTotal !== undefined ? { maxSessions: lim.sessionsTotal } : {}),
      // tunnels per peer are counted per outer address, whatever the SA or inner port
      peerGroup: (key) => this.lineages.route(key)?.lineage.peer.address ?? key,
      ...(opts.random ? { random: opts.random } : {}),
      ...opts.l2tp,
    });
    this.table = new SessionTable(opts.pool, this.limits(users));
    this.table.pool.setStatic(users.staticAddresses());
    // The kernel clamps the TCP MSS (nftables, src/nat/rules.ts): no second clamp here.
    this.forwarder = new Forwarder<SessionHandle>({ pool: opts.pool, mss: 0, counters: this.counters.view('nat.') });
    this.v2 = opts.ikev2
      ? new Ikev2Sessions(
          {
            counters: this.counters,
            sink: this.sink,
            table: this.table,
            esp: this.esp,
            forwarder: this.forwarder,
            lookup: (name) => this.users.lookup(name),
            ikev2Key: (name) => this.users.ikev2Key?.(name),
            failures: this.authFailures,
            userLimit: (name) => this.users.get(name)?.maxSessions ?? this.opts.maxSessionsPerUser,
            send: (o) => this.espOut.push(o),
            sendIke: (from, to, data) => {
              this.flushEsp(0);
              this.udp.sendIke(from, to, data);
            },
            ...(opts.random ? { random: opts.random } : {}),
            ...(opts.remoteAuth ? { remoteAuth: opts.remoteAuth } : {}),
          },
          opts.ikev2,
          { cookieSecret: opts.cookieSecret, dns: opts.dns, serverName: opts.hostName, dpdIdle: opts.dpdIdle, childLifetimeMax: opts.childLifetimeMax, ikeLifetimeMax: opts.ikeLifetimeMax, idleTimeout: opts.idleTimeout },
        )
      : undefined;
  }

  private limits(users: UserDirectory): ConstructorParameters<typeof SessionTable>[1] {
    return {
      perUser: this.opts.maxSessionsPerUser,
      userLimit: (u) => users.get(u)?.maxSessions,
      total: this.opts.maxSessions ?? this.opts.limits?.sessionsTotal ?? 16384,
    };
  }

  /** A reloaded user store: static addresses and limits follow; sessions up stay up. */
  setUsers(users: UserDirectory): void {
    this.users = users;
    this.table.setLimits(this.limits(users));
    this.table.pool.setStatic(users.staticAddresses());
  }

  // ---------------------------------------------------------------- inputs

  /** One IKE message (UDP 500, or 4500 with the non-ESP marker removed). */
  ikeMessage(msg: Uint8Array, from: Endpoint, to: Endpoint, now: number): void {
    this.guard('ike', now, () => {
      // UDP 500/4500 carry both versions: the header's major version tells them apart
      if (this.v2 && peekMajorVersion(msg) === 2) return this.v2.receive(msg, from, to, now);
      this.onIke(this.ike.receive(msg, from, to, now), now);
      this.ikeDue = this.ike.nextDeadline();
    });
    this.flush(now);
  }

  /**
   * The ESP-in-UDP datagrams of one event-loop turn. The engine may decrypt into a buffer
   * it reuses (its reuse mode): the plaintext views are valid only until the next batch.
   * IPv4 packets go to the TUN in this call (flush); whatever may be kept (L2TP control
   * messages, PPP frames other than IPv4, a new route's first message) is copied first.
   */
  espBatch(batch: EspInbound[], now: number): void {
    this.guard('esp', now, () => {
      const { delivered, ipv4, events } = this.esp.decryptBatch(batch, now, true);
      this.onEspEvents(events, now);
      // ESP tunnel mode (IKEv2): whole IPv4 packets, each from its session's virtual IP
      for (const d of ipv4) {
        const p = this.v2?.fromClient(d.saId, Buffer.from(d.packet.buffer, d.packet.byteOffset, d.packet.byteLength), now);
        if (p) this.tunOut.push(p);
        else if (!this.v2) this.counters.inc('session.drop.tunnel-packet-unexpected');
      }
      for (const d of delivered) {
        const lineage = this.lineages.ofChildSa(d.saId);
        if (!lineage) {
          this.counters.inc('session.drop.no-lineage');
          continue;
        }
        let route = lineage.routes.get(d.innerSrcPort);
        const fresh = route === undefined;
        if (route === undefined) {
          if (lineage.routes.size >= this.maxRoutes) {
            this.counters.inc('session.drop.too-many-inner-ports');
            continue;
          }
          route = this.lineages.addRoute(lineage, d.innerSrcPort);
        }
        const control = d.payload.length > 0 && (d.payload[0]! & 0x80) !== 0;
        if (!control && !fresh && this.dataFast(d.payload, route.key, now)) continue;
        this.onL2tp(this.l2tp.receive(own(d.payload), route.key, now), now);
        if (control) this.l2tpDue = this.l2tp.nextDeadline();
        // an L2TP peer exists only once it has a tunnel (an SCCRQ that made one)
        if (fresh && this.l2tp.peerTunnelCount(route.key) === 0) this.lineages.removeRoute(route);
      }
      this.dropIdleRoutes();
    });
    this.flush(now);
  }

  /**
   * The hot path for an L2TP data message carrying IPv4 on an established
   * session: straight to the forwarder, no output lists. False when the
   * general path must handle the message (and nothing was done).
   */
  private dataFast(payload: Uint8Array, routeKey: string, now: number): boolean {
    const key = this.l2tp.dataFast(payload, routeKey, now);
    if (key === undefined) return false;
    const s = this.byL2tpKey.get(key);
    const start = this.l2tp.fastStart;
    const end = this.l2tp.fastEnd;
    if (s === undefined) return true; // as receive(): a 'ppp-frame' for a session the pipeline no longer has
    if (s.ppp.ipv4Frame(payload, start, end, now)) {
      const b = Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
      this.ipv4FromClient(s, b.subarray(start + 4, end), now);
    } else {
      this.onPpp(s, s.ppp.receive(own(payload.subarray(start, end)), now), now);
      this.schedulePpp(s);
    }
    return true;
  }

  /** IPv4 packets read from the TUN device. */
  tunPackets(packets: readonly Buffer[], now: number): void {
    this.guard('tun', now, () => {
      for (const p of packets) {
        const r = this.forwarder.toClient(p);
        if (!r) continue;
        const s = this.live.get(r.sessionKey);
        if (s) this.sendIpv4(s, r.packet, now);
        else this.v2?.toClient(r.sessionKey, r.packet, now);
      }
    });
    this.flush(now);
  }

  /** Run whatever is due (the host's one timer fired). */
  tick(now: number): void {
    this.guard('tick', now, () => {
      if (this.ikeDue !== undefined && now >= this.ikeDue) {
        this.onIke(this.ike.tick(now), now);
        this.ikeDue = this.ike.nextDeadline();
      }
      if (this.l2tpDue !== undefined && now >= this.l2tpDue) {
        this.onL2tp(this.l2tp.tick(now), now);
        this.l2tpDue = this.l2tp.nextDeadline();
      }
      if (this.v2?.due !== undefined && now >= this.v2.due) this.v2.tick(now);
      this.dropIdleRoutes();
      for (;;) {
        const top = this.pppDue.peek();
        if (top === undefined || top.at > now) break;
        this.pppDue.pop();
        const s = this.live.get(top.value);
        if (!s || s.due !== top.at) continue; // stale entry
        s.due = undefined;
        this.onPpp(s, s.ppp.tick(now), now);
        this.schedulePpp(s);
      }
    });
    this.flush(now);
  }

  /** Routes whose last tunnel is gone (a tunnel of theirs went down): forget them. */
  private dropIdleRoutes(): void {
    if (this.routesToCheck.size === 0) return;
    for (const r of this.routesToCheck) if (this.l2tp.peerTunnelCount(r.key) === 0) this.lineages.removeRoute(r);
    this.routesToCheck.clear();
  }

  /** The earliest time anything is due, or undefined when nothing is. */
  nextDeadline(): number | undefined {
    for (;;) {
      const top = this.pppDue.peek();
      if (top === undefined) break;
      const s = this.live.get(top.value);
      if (s && s.due === top.at) break;
      this.pppDue.pop();
    }
    let d = this.ikeDue;
    const consider = (v: number | undefined): void => {
      if (v !== undefined && (d === undefined || v < d)) d = v;
    };
    consider(this.l2tpDue);
    consider(this.v2?.due);
    consider(this.pppDue.peek()?.at);
    return d;
  }

  // ------------------------------------------------------------ operations

  /** RADIUS's answer for an IKEv2 login (EAP-MSCHAPv2 of IKE SA `saId`); ignored once the SA is gone. */
  eapResult(saId: string, verdict: EapVerdict, now: number): void {
    this.guard('eap-result', now, () => this.v2?.eapResult(saId, verdict, now));
    this.flush(now);
  }

  /** The remote verifier's answer for a session's pending login (RADIUS); ignored once the session is gone. */
  authResult(handle: SessionHandle, verdict: RemoteVerdict, now: number): void {
    this.guard('auth-result', now, () => {
      const s = this.live.get(handle);
      if (!s) return;
      this.onPpp(s, s.ppp.authComplete(verdict, now), now);
      this.schedulePpp(s);
    });
    this.flush(now);
  }

  /**
   * Administrative disconnect: PPP Terminate-Request now; when PPP is closed the
   * L2TP session gets its CDN, and when no other session uses the SA lineage its
   * child SAs are deleted (IKE Delete). Returns the ids being closed.
   */
  disconnect(target: { user?: string; session?: string }, reason: string, now: number): string[] {
    const ids: string[] = [];
    this.guard('disconnect', now, () => {
      for (const rec of this.table.match(target)) {
        const s = this.live.get(rec.handle);
        const v2 = this.v2?.has(rec.handle) === true;
        if (!s && !v2) continue;
        ids.push(rec.id);
        rec.disconnectRequested = true;
        this.sink.event({ type: 'session.disconnect', fields: { session: rec.id, user: rec.user ?? null, reason } });
        if (s) {
          this.onPpp(s, s.ppp.close(reason, now), now);
          this.schedulePpp(s);
        } else {
          // IKEv2: an INFORMATIONAL Delete of the IKE SA; the session ends when it is gone
          this.v2!.disconnect(rec.handle, reason, now);
        }
      }
    });
    this.flush(now);
    return ids;
  }

  /**
   * First half of a graceful stop: tell every client (LCP Terminate, StopCCN,
   * then IKE Deletes), innermost first, each while the SAs that carry it exist.
   */
  shutdown(reason: string, now: number): void {
    this.guard('shutdown', now, () => {
      for (const s of [...this.live.values()]) this.onPpp(s, s.ppp.close(reason, now), now);
      this.onL2tp(this.l2tp.shutdown(now), now);
      this.flushEsp(now);
      this.onIke(this.ike.shutdown(now), now);
      for (const rec of this.table.list()) if (this.v2?.has(rec.handle)) this.v2.disconnect(rec.handle, reason, now);
    });
    this.flush(now);
    this.ikeDue = this.l2tpDue = undefined;
  }

  /** Second half: whatever is still up ends now (history records `reason`). */
  finish(reason: string, now: number): void {
    this.guard('finish', now, () => {
      for (const s of [...this.live.values()]) this.onPpp(s, s.ppp.lowerDown(reason, now), now);
      this.v2?.finish(reason, now);
    });
    this.espOut = [];
    this.tunOut = [];
  }

  // ---------------------------------------------------------------- status

  /**
   * Handshakes under way: IKE SAs (IKEv1 Main Mode, IKEv2 IKE_SA_INIT/IKE_AUTH) not yet
   * established. The daemon's heap trim waits while there are any.
   */
  get handshakesInProgress(): number {
    return this.ike.halfOpenCount + (this.v2?.responder.halfOpenCount ?? 0);
  }

  get ikeSaCount(): number {
    return this.ike.list().length + (this.v2?.size ?? 0);
  }

  /** Every session with what status shows about it. */
  sessions(now: number): SessionView[] {
    return this.table.list().map((rec) => {
      const v2 = this.v2?.view(rec.handle, now);
      if (v2) return { rec, peer: v2.peer, natT: true, ike: v2.ike, esp: v2.esp, idle: v2.idle, phase: 'network' };
      const s = this.live.get(rec.handle);
      const lineage = s?.route.lineage;
      const newest = lineage ? this.lineages.newest(lineage) : undefined;
      const child = newest ? this.children.get(newest) : undefined;
      const ikeId = lineage ? [...lineage.ikeSas].pop() : undefined;
      const st = s?.ppp.status(now);
      const peer = lineage ? (this.esp.destinationOf(lineage.peer) ?? lineage.peer) : rec.peer;
      return {
        rec,
        peer: endpointText(peer),
        natT: child ? child.natT : null,
        ike: ikeId ? (this.ikeAlgorithms.get(ikeId) ?? null) : null,
        esp: child?.transform ?? null,
        idle: st?.idleSeconds ?? null,
        phase: st?.phase ?? 'dead',
      };
    });
  }

  /** Internal sizes, for tests and leak checks. */
  sizes(): Record<string, number> {
    return {
      sessions: this.table.size,
      live: this.live.size,
      l2tpSessions: this.byL2tpKey.size,
      lineages: this.lineages.size,
      routes: this.lineages.routeCount,
      children: this.children.size,
      ikeSas: this.ike.list().length,
      ikev2Sessions: this.v2?.size ?? 0,
      tunnels: this.l2tp.list().length,
      forwarder: this.forwarder.sessionCount,
      poolUsed: this.table.pool.size - this.table.pool.free,
    };
  }

  // ------------------------------------------------------------- IKE side

  private onIke(outs: IkeOutput[], now: number): void {
    for (const o of outs) {
      switch (o.type) {
        case 'send':
          // what ESP queued before this message (a CDN before its Delete) leaves first
          this.flushEsp(now);
          this.udp.sendIke(o.from, o.to, o.data);
          break;
        case 'ike-sa-up': {
          this.ikeAlgorithms.set(o.id, o.algorithms);
          this.lineages.ikeUp(o.id, o.peer, o.peerId);
          this.sink.log(logEvent('info', 'ike.sa.up', { id: o.id, peer: endpointText(o.peer), peerId: o.peerId, algorithms: o.algorithms }));
          this.sink.event({ type: 'ike.sa.up', fields: { id: o.id, peer: endpointText(o.peer), algorithms: o.algorithms } });
          break;
        }
        case 'ike-sa-down': {
          this.ikeAlgorithms.delete(o.id);
          this.lineages.ikeDown(o.id);
          this.sink.log(logEvent('info', 'ike.sa.down', { id: o.id, peer: endpointText(o.peer), reason: o.reason }));
          this.sink.event({ type: 'ike.sa.down', fields: { id: o.id, peer: endpointText(o.peer), reason: o.reason } });
          break;
        }
        case 'child-sa-up':
          this.childUp(o);
          break;
        case 'child-sa-down':
          this.childDown(o.id, o.reason, now);
          break;
        case 'peer-moved':
          // IKE followed the client's new NAT mapping: its ESP SAs send there too
          this.esp.movePeer(o.peer, o.remote);
          this.sink.log(logEvent('info', 'peer.moved', { peer: endpointText(o.peer), to: endpointText(o.remote), by: 'ike' }));
          break;
        case 'log':
          this.sink.log(o);
          break;
      }
    }
  }

  private childUp(o: ChildSaUp): void {
    const refused = this.esp.tryAddSa(o);
    this.onEspEvents(this.esp.takeEvents(), 0);
    if (refused !== undefined) return;
    this.lineages.childUp(o.id, o.ikeSaId, o.peer, o.peerId ?? '');
    const info: ChildInfo = { natT: o.encapsulation === 'udp', transform: espLabel(o.transform) };
    this.children.set(o.id, info);
    this.sink.log(
      logEvent('info', 'ipsec.sa.up', {
        id: o.id,
        peer: endpointText(o.peer),
        spiIn: o.inbound.spi.toString(16),
        spiOut: o.outbound.spi.toString(16),
        transform: info.transform,
        lifetime: o.lifetimeSeconds,
      }),
    );
    this.sink.event({ type: 'ipsec.sa.up', fields: { id: o.id, peer: endpointText(o.peer), natT: info.natT } });
  }

  private childDown(id: string, reason: string, now: number): void {
    this.esp.removeSa(id);
    this.children.delete(id);
    this.sink.log(logEvent('info', 'ipsec.sa.down', { id, reason }));
    this.sink.event({ type: 'ipsec.sa.down', fields: { id, reason } });
    const down = this.lineages.childDown(id);
    if (!down?.orphaned) return;
    // Without an SA its L2TP tunnels cannot speak: free them ("ipsec sa dpd", "ipsec sa deleted by peer", ...).
    for (const r of [...down.lineage.routes.values()]) {
      this.onL2tp(this.l2tp.closePeer(r.key, now, false, `ipsec sa ${reason}`), now);
      this.lineages.removeRoute(r);
    }
    this.l2tpDue = this.l2tp.nextDeadline();
    this.lineages.forgetIfEmpty(down.lineage);
  }

  private onEspEvents(events: EspEvent[], now: number): void {
    for (const e of events) {
      if (e.type === 'log') this.sink.log(e);
      else if (e.type === 'rekey-needed') this.sink.log(logEvent('warn', 'ipsec.sa.rekey-needed', { id: e.saId }));
      else if (e.type === 'peer-moved') {
        // The client's NAT mapping changed (authenticated ESP from a new port): ESP already
        // sends there; IKE's DPD and Deletes follow. Sessions keep their handles.
        this.counters.inc('peer.moved');
        this.sink.log(logEvent('info', 'peer.moved', { sa: e.saId, peer: endpointText(e.peer), to: endpointText(e.observed), by: 'esp' }));
        if (this.v2?.ownsChild(e.saId)) {
          this.v2.espMoved(e.saId, e.observed, now);
          continue;
        }
        this.onIke(this.ike.movePeer(e.peer, e.observed), now);
        this.ikeDue = this.ike.nextDeadline();
      }
    }
  }

  // ------------------------------------------------------------ L2TP side

  private onL2tp(outs: L2tpOutput[], now: number): void {
    for (const o of outs) {
      switch (o.type) {
        case 'send': {
          const r = this.lineages.route(o.peerKey);
          const saId = r ? this.lineages.newest(r.lineage) : undefined;
          if (!r || saId === undefined) {
            this.counters.inc('l2tp.drop.no-sa');
            break;
          }
          this.espOut.push({ saId, innerDstPort: r.port, payload: o.data });
          break;
        }
        case 'session-up':
          this.startSession(o.sessionKey, o.peerKey, o.tunnelId, o.sessionId, now);
          break;
        case 'ppp-frame': {
          const s = this.byL2tpKey.get(o.sessionKey);
          if (!s) break;
          this.onPpp(s, s.ppp.receive(o.frame, now), now);
          this.schedulePpp(s);
          break;
        }
        case 'session-down': {
          const s = this.byL2tpKey.get(o.sessionKey);
          // The L2TP session is gone: PPP frees its lease and reports 'closed'.
          if (s) this.onPpp(s, s.ppp.lowerDown(o.reason, now), now);
          break;
        }
        case 'tunnel-down': {
          const r = this.lineages.route(o.peerKey);
          if (r) this.routesToCheck.add(r);
          break;
        }
        case 'log':
          this.sink.log(o);
          break;
      }
    }
  }

  // ------------------------------------------------------------- PPP side

  private startSession(l2tpKey: string, peerKey: string, tunnelId: number, sessionId: number, now: number): void {
    const route = this.lineages.route(peerKey);
    if (!route) {
      this.counters.inc('session.drop.no-route');
      this.onL2tp(this.l2tp.closeSession(l2tpKey, 2, now, 'no route'), now);
      return;
    }
    if (!this.table.hasRoom()) {
      this.counters.inc('session.refused.total');
      this.onL2tp(this.l2tp.closeSession(l2tpKey, 4, now, 'too many sessions'), now);
      return;
    }
    // one SA may hold only a few sessions that have not logged in yet: a PSK holder
    // cannot fill the table with calls that never authenticate
    if (this.table.unauthenticatedOf(route.lineage.id) >= this.maxUnauthenticated) {
      this.counters.inc('session.refused.unauthenticated-per-sa');
      this.onL2tp(this.l2tp.closeSession(l2tpKey, 4, now, 'too many sessions waiting for login'), now);
      return;
    }
    const id = flat(endpointText(route.lineage.peer), '/', route.port, '/', tunnelId, '/', sessionId);
    const rec = this.table.open('l2tp-ppp', id, route.lineage.id, route.lineage.peer, now);
    const handle = rec.handle;
    const backend = new Pipeline.Backend(this, handle);
    const o = this.opts;
    const ppp = new PppSession(
      {
        serverAddress: o.serverAddress,
        dns: o.dns,
        mru: o.mru,
        authProtocols: o.auth,
        idleTimeout: o.idleTimeout,
        ...(o.lcpEchoInterval ? { lcpEchoInterval: o.lcpEchoInterval } : {}),
        serverName: o.hostName,
        peerAddress: route.lineage.peer.address,
        counters: this.pppCounters,
        ...(o.pppDebug === false ? { debug: false } : {}),
      },
      backend,
      this.table.pool,
      now,
    );
    const s: LiveSession = { rec, ppp, l2tpKey, route, due: undefined };
    this.live.set(handle, s);
    this.byL2tpKey.set(l2tpKey, s);
    this.onPpp(s, ppp.start(now), now);
    this.schedulePpp(s);
  }

  private schedulePpp(s: LiveSession): void {
    if (!this.live.has(s.rec.handle)) return;
    const d = s.ppp.nextDeadline();
    if (d === undefined || (s.due !== undefined && s.due <= d)) return;
    s.due = d;
    this.pppDue.push(d, s.rec.handle);
  }

  private onPpp(s: LiveSession, outs: PppOutput[], now: number): void {
    const rec = s.rec;
    for (const o of outs) {
      switch (o.type) {
        case 'send':
          this.onL2tp(this.l2tp.sendPpp(s.l2tpKey, o.frame), now);
          break;
        case 'auth-success':
          if (rec.user !== o.user) this.table.admit(rec.handle, o.user);
          break;
        case 'auth-failure':
          this.counters.inc('ppp.auth.failure');
          break;
        case 'auth-request':
          this.opts.remoteAuth?.request(rec.handle, o.attempt, { peer: rec.peer, session: rec.id });
          break;
        case 'ip-up': {
          // IPCP renegotiated to the same address: the session goes on
          if (rec.address === o.address) break;
          rec.address = o.address;
          try {
            this.forwarder.addSession(rec.handle, o.address);
          } catch (e) {
            // the pool never hands one address to two sessions; if it did, refuse the second
            this.counters.inc('session.address-conflict');
            this.sink.log(logEvent('error', 'session.address-conflict', { session: rec.id, address: o.address, error: (e as Error).message }));
            this.onPpp(s, s.ppp.close('address conflict', now), now);
            break;
          }
          const fields = { user: o.user, address: o.address, session: rec.id, peer: endpointText(rec.peer) };
          this.sink.log(logEvent('info', 'session.start', fields));
          this.sink.event({ type: 'session.start', fields });
          break;
        }
        case 'ipv4':
          this.ipv4FromClient(s, Buffer.isBuffer(o.packet) ? o.packet : Buffer.from(o.packet.buffer, o.packet.byteOffset, o.packet.byteLength), now);
          break;
        case 'closed':
          this.onL2tp(this.l2tp.closeSession(s.l2tpKey, 3, now, o.reason), now);
          this.l2tpDue = this.l2tp.nextDeadline();
          this.endSession(s, o.reason, now);
          break;
        case 'log':
          // PPP does not know where the session comes from: add it (ppp.auth.failure names user and peer).
          this.sink.log(logEvent(o.level, o.event, { ...o.fields, session: rec.id, peer: endpointText(rec.peer) }));
          break;
      }
    }
  }

  /** An IPv4 packet from a client's PPP session: through the forwarder's checks to the TUN. */
  private ipv4FromClient(s: LiveSession, packet: Buffer, now: number): void {
    const rec = s.rec;
    const r = this.forwarder.fromClient(rec.handle, packet);
    if (!r.ok) {
      const ev = this.forwarder.dropEvent(r.reason, rec.id, now);
      // a client sending from an address that is not its own is worth a warning
      if (ev) this.sink.log(logEvent(r.reason === 'spoofed-source' ? 'warn' : ev.level, ev.event, { ...ev.fields, user: rec.user, peer: endpointText(rec.peer) }));
      return;
    }
    rec.bytesIn += r.packet.length;
    rec.packetsIn++;
    this.tunOut.push(r.packet);
  }

  private endSession(s: LiveSession, reason: string, now: number): void {
    const rec = s.rec;
    if (!this.live.delete(rec.handle)) return;
    this.byL2tpKey.delete(s.l2tpKey);
    this.forwarder.removeSession(rec.handle);
    s.due = undefined;
    this.opts.remoteAuth?.ended(rec.handle);
    const entry = this.table.close(rec.handle, reason, now);
    if (entry) {
      this.sink.log(
        logEvent('info', 'session.stop', {
          user: entry.user ?? undefined,
          address: entry.address,
          session: entry.session,
          reason,
          duration: entry.duration,
          bytesIn: entry.bytesIn,
          bytesOut: entry.bytesOut,
        }),
      );
      this.sink.event({ type: 'session.stop', fields: { ...entry } });
      this.sink.ended(entry);
    }
    if (rec.disconnectRequested) this.deleteLineageIfUnused(s.route.lineage, now);
  }

  /** After an admin disconnect: IKE Delete of the lineage's child SAs when no other session uses it. */
  private deleteLineageIfUnused(l: Lineage, now: number): void {
    for (const other of this.live.values()) if (other.route.lineage === l) return;
    for (const saId of [...l.children]) this.onIke(this.ike.deleteChildSa(saId, now), now);
    this.ikeDue = this.ike.nextDeadline();
  }

  /**
   * One IPv4 packet to a client: PPP and L2TP headers are written into a
   * shared head buffer and ESP copies head + packet once into its plaintext.
   */
  private sendIpv4(s: LiveSession, packet: Buffer, now: number): void {
    const saId = this.lineages.newest(s.route.lineage);
    if (saId === undefined) {
      this.counters.inc('l2tp.drop.no-sa');
      return;
    }
    if (this.headPos + HEAD_MAX > this.head.length) {
      this.head = Buffer.alloc(this.head.length * 2);
      this.headPos = 0;
    }
    const at = this.headPos;
    const hl = this.l2tp.writeDataHeaderFor(s.l2tpKey, 4 + packet.length, this.head, at);
    if (hl === 0) return;
    s.ppp.writeIpv4Header(this.head, at + hl, now);
    this.headPos = at + hl + 4;
    s.rec.bytesOut += packet.length;
    s.rec.packetsOut++;
    this.espOut.push({ saId, innerDstPort: s.route.port, head: this.head.subarray(at, at + hl + 4), payload: packet });
  }

  // --------------------------------------------------------------- output

  private flushEsp(now: number): void {
    if (this.espOut.length === 0) return;
    const batch = this.espOut;
    this.espOut = [];
    const { sends, events } = this.esp.encryptBatch(batch, now, this.udp.copiesOnSend?.() === true);
    this.headPos = 0;
    this.onEspEvents(events, now);
    if (sends.length > 0) this.udp.sendEsp(sends);
  }

  /** Send what the layers queued during this turn: one ESP batch, one TUN write. */
  private flush(now: number): void {
    this.guard('esp-out', now, () => this.flushEsp(now));
    if (this.tunOut.length > 0) {
      const packets = this.tunOut;
      this.tunOut = [];
      if (this.tun) {
        const n = this.tun.write(packets);
        if (n < packets.length) this.counters.inc('tun.drop.write-full', packets.length - n);
      }
    }
  }

  /** The last line of defence: a bug in a core must not kill the daemon. */
  private guard(where: string, now: number, f: () => void): void {
    try {
      f();
    } catch (e) {
      this.counters.inc(`internal-error.${where}`);
      if (this.logLimiter.allow(where, now) >= 0) this.sink.log(logEvent('error', 'internal.error', { where, error: (e as Error).stack ?? String(e) }));
    }
  }
}

function pick<T extends object, K extends keyof T>(o: T, keys: K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

/** An ESP transform for logs and status: "aes-cbc256-hmac-sha1-96", "3des-cbc192-hmac-sha1-96", "aes-gcm128-icv16". */
export function espLabel(t: EspTransform): string {
  if (t.cipher === 'aes-gcm-16') return `aes-gcm${t.keyBits}-icv16`;
  return `${t.cipher}${t.keyBits}-${t.integ}`;
}

export type { LogEvent };
