import { randomBytes } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { Counters } from '../core/counters.js';
import { logEvent, type LogEvent } from '../core/log.js';
import { endpointText, type Endpoint } from '../core/sa.js';
import { DatagramSocket } from '../io/datagram.js';
import {
  accountingInterim,
  accountingStart,
  accountingStop,
  attr,
  CODE,
  DynAuthServer,
  ERROR_CAUSE,
  msChapV2AccessRequest,
  nasAttributes,
  newAcctSessionId,
  RadiusClient,
  terminateCause,
  type AccountingSession,
  type Attribute,
  type DynAuthOutput,
  type DynAuthRequest,
  type NasIdentity,
  type RadiusOutput,
  type RadiusRequest,
  type RadiusResult,
  type ServerStatus,
} from '../radius/index.js';
import type { EapRemoteAttempt, EapVerdict, EndedSession, PipelineEvent, RemoteAttempt, RemoteAuthPort, RemoteVerdict, SessionHandle, SessionTable } from '../session/index.js';
import type { RadiusConfig } from './config.js';
import type { RadiusServerInfo } from './control-types.js';
import { AcctSpool, type SpooledRequest } from './radius-spool.js';
import { eapVerdict, pppVerdict, type Granted } from './radius-verdicts.js';

/**
 * The daemon's RADIUS side: the sans-I/O client (src/radius) wired to a UDP socket,
 * a timer and the pipeline. It answers the pipeline's login questions (RemoteAuthPort),
 * sends accounting (Start at session up, Interim-Update, Stop at the end; what cannot
 * be delivered is spooled to disk and sent later), and serves RFC 5176
 * Disconnect-Request by ending the session named.
 */

/** What the host needs of the pipeline. */
export interface RadiusPipeline {
  authResult(handle: SessionHandle, verdict: RemoteVerdict, now: number): void;
  eapResult(saId: string, verdict: EapVerdict, now: number): void;
  readonly table: SessionTable;
  disconnect(target: { user?: string; session?: string }, reason: string, now: number): string[];
}

export interface RadiusTimer {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export interface RadiusHostOptions {
  cfg: RadiusConfig;
  clock: Clock;
  timer: RadiusTimer;
  log: (ev: LogEvent) => void;
  /** Wall clock (ms since the epoch): Event-Timestamp and the spool's ages. */
  wallClock?: () => number;
  random?: (n: number) => Buffer;
  counters?: Counters;
  /** Called after the pipeline got an input from here (the daemon re-arms its timer). */
  afterInput?: () => void;
  /** Servers' dead time (ms), default 30 s; tests shorten it. */
  deadTimeMs?: number;
  /** How often the spool is retried (ms), default 30 s. */
  spoolRetryMs?: number;
}

type AuthAsk = { session: SessionHandle; attempt: RemoteAttempt; saId?: undefined } | { saId: string; eap: EapRemoteAttempt };

interface AcctAsk {
  /** Spool it when no server takes it (Start and Stop: accounting is billing). */
  spool: boolean;
  req: RadiusRequest;
  /** Set when it came from the spool. */
  spooled?: SpooledRequest;
}

/** An accounted session: from session.start to its history record. */
interface Accounted {
  handle: SessionHandle;
  acct: AccountingSession;
  /** ms; 0 = no Interim-Update. */
  interval: number;
  nextInterim: number | undefined;
}


export class RadiusHost implements RemoteAuthPort {
  readonly localFallback: boolean;
  readonly counters: Counters;
  private readonly client: RadiusClient;
  private readonly dynauth: DynAuthServer | undefined;
  private readonly nas: NasIdentity;
  private readonly spool: AcctSpool;
  private pipeline: RadiusPipeline | undefined;
  private sock: DatagramSocket | undefined;
  private dynSock: DatagramSocket | undefined;
  /** RADIUS request handle → what it was for. */
  private readonly auths = new Map<number, AuthAsk>();
  private readonly accts = new Map<number, AcctAsk>();
  /** Session handle → its outstanding Access-Request. */
  private readonly askOf = new Map<SessionHandle, number>();
  private readonly granted = new Map<SessionHandle, Granted>();
  /** IKEv2: IKE SA id → its outstanding Access-Request, and what the Accept granted (until session.start). */
  private readonly askOfSa = new Map<string, number>();
  private readonly grantedSa = new Map<string, Granted>();
  /** By our session id (SessionRecord.id). */
  private readonly accounted = new Map<string, Accounted>();
  private timerHandle: unknown;
  private timerAt: number | undefined;
  private nextSpoolTry = 0;
  private readonly wall: () => number;
  private readonly random: (n: number) => Buffer;
  private stopped = false;

  constructor(private readonly o: RadiusHostOptions) {
    const c = o.cfg;
    this.localFallback = c.fallbackToUsersFile;
    this.wall = o.wallClock ?? Date.now;
    this.random = o.random ?? ((n) => randomBytes(n));
    this.counters = o.counters ?? new Counters('radius');
    this.nas = { nasIdentifier: c.nasIdentifier, ...(c.nasIpAddress ? { nasIpAddress: c.nasIpAddress } : {}) };
    this.client = new RadiusClient({
      servers: c.servers.map((s) => ({ address: s.address, authPort: s.authPort, acctPort: s.acctPort, secret: s.secret, name: `${s.address}:${s.authPort}` })),
      random: this.random,
      timeoutMs: c.timeout * 1000,
      tries: c.retries,
      requireMessageAuthenticator: c.requireMessageAuthenticator,
      counters: this.counters,
      ...(o.deadTimeMs !== undefined ? { deadTimeMs: o.deadTimeMs } : {}),
    });
    this.dynauth =
      c.dynauthListen && c.dynauthClients.length > 0
        ? new DynAuthServer({
            clients: c.dynauthClients.map((d) => ({ address: d.address, secret: d.secret })),
            nasIdentifier: c.nasIdentifier,
            ...(c.nasIpAddress ? { nasIpAddress: c.nasIpAddress } : {}),
            counters: this.counters.view('dynauth.'),
          })
        : undefined;
    this.spool = new AcctSpool(c.spoolFile, (ev) => o.log(ev));
    // the client's construction warnings (require_message_authenticator = false)
    this.onClient(this.client.tick(o.clock.now()));
  }

  attach(pipeline: RadiusPipeline): void {
    this.pipeline = pipeline;
  }

  /** Open the sockets and send what a previous run left in the spool. */
  async start(): Promise<void> {
    const c = this.o.cfg;
    this.sock = await DatagramSocket.open(c.nasIpAddress || '0.0.0.0', 0, {
      onMessage: (data, from) => this.input(() => this.onClient(this.client.receive(data, from, this.now()))),
      onError: (e) => this.o.log(logEvent('warn', 'radius.socket.error', { error: e.message })),
    });
    if (this.dynauth) {
      const m = /^(.+):(\d+)$/.exec(c.dynauthListen)!;
      this.dynSock = await DatagramSocket.open(m[1]!, Number(m[2]), {
        onMessage: (data, from) => this.input(() => this.onDynAuth(this.dynauth!.receive(data, from, this.now()))),
        onError: (e) => this.o.log(logEvent('warn', 'radius.dynauth.socket.error', { error: e.message })),
      });
    }
    const spooled = this.spool.load();
    this.o.log(
      logEvent('info', 'radius.start', {
        servers: c.servers.map((s) => `${s.address}:${s.authPort}/${s.acctPort}`),
        nasIdentifier: c.nasIdentifier,
        port: this.sock.port,
        ...(this.dynSock ? { dynauth: `${this.dynSock.address}:${this.dynSock.port}` } : {}),
        ...(spooled > 0 ? { spooled } : {}),
      }),
    );
    this.nextSpoolTry = this.now();
    this.arm();
  }

  /** Wait (at most graceMs) for accounting in flight; what is left goes to the spool. Then close. */
  async stop(graceMs = 3000): Promise<void> {
    const until = this.now() + graceMs;
    while (this.accts.size > 0 && this.now() < until) await new Promise((r) => setTimeout(r, 50));
    this.stopped = true;
    for (const [h, a] of this.accts) {
      this.client.cancel(h);
      if (a.spool && !a.spooled) this.spool.add(a.req.attributes, this.wall());
    }
    this.accts.clear();
    if (this.timerHandle !== undefined) this.o.timer.clear(this.timerHandle);
    this.timerHandle = undefined;
    await this.sock?.close();
    await this.dynSock?.close();
  }

  status(): ServerStatus[] {
    return this.client.status(this.now());
  }

  /** For `status` and metrics. */
  info(): { servers: RadiusServerInfo[]; spooled: number } {
    const now = this.now();
    const sum = (c: Record<string, number>, f: (k: string) => boolean): number => Object.entries(c).reduce((n, [k, v]) => (f(k) ? n + v : n), 0);
    return {
      servers: this.status().map((s) => ({
        name: s.name,
        address: s.address,
        authPort: s.authPort,
        acctPort: s.acctPort,
        state: s.state,
        ...(s.state === 'dead' ? { retryIn: Math.max(0, Math.ceil((s.deadUntil - now) / 1000)) } : {}),
        lastAnswer: s.lastAnswer === undefined ? null : Math.max(0, Math.floor((now - s.lastAnswer) / 1000)),
        outstanding: s.outstanding,
        requests: s.counters['requests'] ?? 0,
        retransmissions: s.counters['retransmissions'] ?? 0,
        timeouts: s.counters['timeouts'] ?? 0,
        accepts: s.counters['responses.accept'] ?? 0,
        rejects: s.counters['responses.reject'] ?? 0,
        accounted: s.counters['responses.accounted'] ?? 0,
        drops: sum(s.counters, (k) => k.startsWith('drop.')),
      })),
      spooled: this.spool.size,
    };
  }

  get spooled(): number {
    return this.spool.size;
  }

  // ---- logins (RemoteAuthPort) ----------------------------------------------

  request(session: SessionHandle, attempt: RemoteAttempt, who: { peer: Endpoint; session: string }): void {
    const prior = this.askOf.get(session);
    if (prior !== undefined) {
      this.client.cancel(prior);
      this.auths.delete(prior);
    }
    const callingStationId = endpointText(who.peer);
    let req: RadiusRequest;
    try {
      req =
        attempt.method === 'mschapv2'
          ? msChapV2AccessRequest({ ...attempt, callingStationId, nasPort: session }, this.nas)
          : {
              code: CODE.AccessRequest,
              attributes: [attr('User-Name', attempt.userName), attr('User-Password', attempt.password), ...nasAttributes(this.nas), attr('Calling-Station-Id', callingStationId), attr('NAS-Port', session)],
            };
    } catch (e) {
      this.deliver(session, { kind: 'reject', reason: `cannot ask RADIUS: ${(e as Error).message}` });
      return;
    }
    const { handle, out } = this.client.request(req, this.now());
    this.auths.set(handle, { session, attempt });
    this.askOf.set(session, handle);
    this.onClient(out);
    this.arm();
  }

  ended(session: SessionHandle): void {
    const h = this.askOf.get(session);
    if (h !== undefined) {
      this.client.cancel(h);
      this.auths.delete(h);
      this.askOf.delete(session);
    }
    // granted stays until the history record (onEnded) has used it
  }

  /** IKEv2's EAP-MSCHAPv2: the same Access-Request, keyed by the IKE SA (no session exists yet). */
  requestEap(saId: string, attempt: EapRemoteAttempt, who: { peer: Endpoint }): void {
    const prior = this.askOfSa.get(saId);
    if (prior !== undefined) {
      this.client.cancel(prior);
      this.auths.delete(prior);
    }
    let req: RadiusRequest;
    try {
      req = msChapV2AccessRequest({ ...attempt, callingStationId: endpointText(who.peer) }, this.nas);
    } catch (e) {
      this.pipeline?.eapResult(saId, { kind: 'reject', reason: `cannot ask RADIUS: ${(e as Error).message}` }, this.now());
      this.o.afterInput?.();
      return;
    }
    const { handle, out } = this.client.request(req, this.now());
    this.auths.set(handle, { saId, eap: attempt });
    this.askOfSa.set(saId, handle);
    this.onClient(out);
    this.arm();
  }

  endedEap(saId: string): void {
    this.grantedSa.delete(saId);
    const h = this.askOfSa.get(saId);
    if (h === undefined) return;
    this.client.cancel(h);
    this.auths.delete(h);
    this.askOfSa.delete(saId);
  }

  private onEapResult(saId: string, attempt: EapRemoteAttempt, result: RadiusResult): void {
    this.askOfSa.delete(saId);
    this.countResult(result);
    const { verdict, granted } = eapVerdict(attempt, result);
    if (granted) this.grantedSa.set(saId, granted);
    if (verdict.kind === 'unavailable' && this.localFallback) this.grantedSa.set(saId, { classes: [], authentic: 'local' });
    this.pipeline?.eapResult(saId, verdict, this.now());
    this.o.afterInput?.();
  }

  private onAuthResult(ask: { session: SessionHandle; attempt: RemoteAttempt }, result: RadiusResult): void {
    if (this.askOf.get(ask.session) !== undefined) this.askOf.delete(ask.session);
    this.countResult(result);
    const { verdict, granted } = pppVerdict(ask.attempt, result);
    if (granted) this.granted.set(ask.session, granted);
    if (verdict.kind === 'unavailable' && this.localFallback) this.granted.set(ask.session, { classes: [], authentic: 'local' });
    this.deliver(ask.session, verdict);
  }

  private countResult(result: RadiusResult): void {
    if (result.kind === 'accept' || result.kind === 'reject' || result.kind === 'challenge') this.counters.inc(`auth.${result.kind}`);
    else if (result.kind === 'timeout' || result.kind === 'overload') this.counters.inc('auth.unavailable');
  }

  private deliver(session: SessionHandle, verdict: RemoteVerdict): void {
    this.pipeline?.authResult(session, verdict, this.now());
    this.o.afterInput?.();
  }

  // ---- accounting -------------------------------------------------------------

  /** A pipeline event (the daemon forwards them all): session.start begins accounting. */
  onEvent(ev: PipelineEvent): void {
    if (ev.type !== 'session.start' || this.stopped) return;
    const id = String(ev.fields['session'] ?? '');
    const rec = this.pipeline?.table.findById(id);
    if (!rec || !rec.user || this.accounted.has(id)) return;
    // an IKEv2 session's id ends with its IKE SA's id ("peer/ikev2/SA"): what the Accept granted that SA
    if (rec.kind === 'ikev2') {
      const saId = id.slice(id.lastIndexOf('/') + 1);
      const g = this.grantedSa.get(saId);
      this.grantedSa.delete(saId);
      if (g) this.granted.set(rec.handle, g);
    }
    const g = this.granted.get(rec.handle);
    const acct: AccountingSession = {
      sessionId: newAcctSessionId(this.random, this.o.cfg.nasIdentifier),
      userName: rec.user,
      callingStationId: endpointText(rec.peer),
      nasPort: rec.handle,
      authentic: g?.authentic ?? 'radius',
      ...(rec.address ? { framedIpAddress: rec.address } : {}),
      ...(g && g.classes.length > 0 ? { classes: g.classes } : {}),
    };
    const seconds = g?.interim !== undefined && g.interim > 0 ? Math.max(60, g.interim) : this.o.cfg.interimInterval;
    const interval = seconds * 1000;
    const now = this.now();
    this.accounted.set(id, { handle: rec.handle, acct, interval, nextInterim: interval > 0 ? now + this.jitter(interval) : undefined });
    this.o.log(logEvent('info', 'radius.acct.start', { session: id, acctSessionId: acct.sessionId, user: acct.userName, interim: seconds }));
    this.sendAcct(accountingStart(acct, this.nas, this.wall()), true);
  }

  /** The history record of an ended session: accounting Stop with its counters. */
  onEnded(entry: EndedSession): void {
    const a = this.accounted.get(entry.session);
    if (!a) return;
    this.accounted.delete(entry.session);
    this.granted.delete(a.handle);
    const req = accountingStop(
      a.acct,
      this.nas,
      { sessionTime: entry.duration, inputOctets: entry.bytesIn, outputOctets: entry.bytesOut, inputPackets: entry.packetsIn, outputPackets: entry.packetsOut },
      terminateCause(entry.reason),
      this.wall(),
    );
    if (this.stopped) {
      this.spool.add(req.attributes, this.wall());
      return;
    }
    this.sendAcct(req, true);
  }

  /** Acct-Session-Id of one of our sessions (for status and tests). */
  acctSessionId(sessionId: string): string | undefined {
    return this.accounted.get(sessionId)?.acct.sessionId;
  }

  /** The first Interim-Update after interval ±10 %, so that sessions started together spread out. */
  private jitter(interval: number): number {
    const r = this.random(2).readUInt16BE(0) / 0xffff;
    return Math.round(interval * (0.9 + 0.2 * r));
  }

  private interims(now: number): void {
    for (const [id, a] of this.accounted) {
      if (a.nextInterim === undefined || now < a.nextInterim) continue;
      a.nextInterim = now + a.interval;
      const rec = this.pipeline?.table.findById(id);
      if (!rec) continue;
      const counters = {
        sessionTime: Math.max(0, Math.floor((now - rec.started) / 1000)),
        inputOctets: rec.bytesIn,
        outputOctets: rec.bytesOut,
        inputPackets: rec.packetsIn,
        outputPackets: rec.packetsOut,
      };
      this.sendAcct(accountingInterim(a.acct, this.nas, counters, this.wall()), false);
    }
  }

  private sendAcct(req: RadiusRequest, spool: boolean, spooled?: SpooledRequest): void {
    const { handle, out } = this.client.request(req, this.now());
    this.accts.set(handle, { req, spool, ...(spooled ? { spooled } : {}) });
    this.onClient(out);
    this.arm();
  }

  private onAcctResult(a: AcctAsk, result: RadiusResult): void {
    if (result.kind === 'accounted') {
      this.counters.inc('acct.delivered');
      if (a.spooled) this.spool.remove(a.spooled);
      return;
    }
    this.counters.inc('acct.undelivered');
    if (a.spooled && result.kind === 'invalid') {
      // it cannot be encoded (a spool line from elsewhere): sending it again will not help
      this.spool.remove(a.spooled);
      this.o.log(logEvent('error', 'radius.spool.dropped', { reason: result.reason }));
      return;
    }
    if (a.spooled) return; // stays in the spool for the next round
    if (!a.spool) return;
    this.spool.add(a.req.attributes, this.wall());
    this.o.log(logEvent('warn', 'radius.acct.spooled', { reason: result.kind, spooled: this.spool.size }));
  }

  /** Spooled requests go out again (a few at a time, oldest first) with Acct-Delay-Time grown by their age. */
  private retrySpool(now: number): void {
    if (now < this.nextSpoolTry || this.spool.size === 0) return;
    this.nextSpoolTry = now + (this.o.spoolRetryMs ?? 30_000);
    const inFlight = new Set([...this.accts.values()].flatMap((a) => (a.spooled ? [a.spooled] : [])));
    let sent = 0;
    for (const s of this.spool.entries()) {
      if (inFlight.has(s)) continue;
      if (sent++ >= 16) break;
      const delay = Math.max(0, Math.floor((this.wall() - s.savedAt) / 1000));
      const attributes: Attribute[] = s.attributes.map((x) => (x.name === 'Acct-Delay-Time' ? attr('Acct-Delay-Time', Math.min(0xffffffff, (x.value as number) + delay)) : x));
      this.sendAcct({ code: CODE.AccountingRequest, attributes }, true, s);
    }
  }

  // ---- RFC 5176 ------------------------------------------------------------------

  private onDynAuth(outs: DynAuthOutput[]): void {
    for (const o of outs) {
      if (o.type === 'send') this.dynSock?.send(o.address, o.port, o.datagram);
      else if (o.type === 'request') this.onDynAuth(this.dynauth!.answer(o.token, this.dynAuthAction(o.request)));
      else this.o.log(o);
    }
  }

  private dynAuthAction(r: DynAuthRequest): { ok: true } | { ok: false; errorCause: number } {
    if (r.kind === 'coa') return { ok: false, errorCause: ERROR_CAUSE.UnsupportedService };
    const p = this.pipeline;
    if (!p) return { ok: false, errorCause: ERROR_CAUSE.ResourcesUnavailable };
    const now = this.now();
    let targets: string[] = [];
    for (const [id, a] of this.accounted) {
      if (r.sessionId !== undefined && a.acct.sessionId !== r.sessionId) continue;
      if (r.userName !== undefined && a.acct.userName !== r.userName) continue;
      if (r.framedIpAddress !== undefined && a.acct.framedIpAddress !== r.framedIpAddress) continue;
      targets.push(id);
    }
    if (r.sessionId === undefined && r.userName === undefined && r.framedIpAddress === undefined) targets = [];
    const ended = targets.flatMap((id) => p.disconnect({ session: id }, 'disconnect-request from RADIUS', now));
    this.o.log(logEvent('info', 'radius.dynauth.disconnect', { client: r.client, acctSessionId: r.sessionId, user: r.userName, address: r.framedIpAddress, sessions: ended }));
    this.o.afterInput?.();
    return ended.length > 0 ? { ok: true } : { ok: false, errorCause: ERROR_CAUSE.SessionContextNotFound };
  }

  // ---- client outputs, timer ---------------------------------------------------

  private onClient(outs: RadiusOutput[]): void {
    for (const o of outs) {
      if (o.type === 'send') {
        this.counters.inc(`server.${o.server}.requests`);
        this.sock?.send(o.address, o.port, o.datagram, (e) => this.o.log(logEvent('warn', 'radius.send.error', { server: o.server, error: e.message })));
      } else if (o.type === 'result') {
        const auth = this.auths.get(o.handle);
        if (auth) {
          this.auths.delete(o.handle);
          if (auth.saId !== undefined) this.onEapResult(auth.saId, auth.eap, o.result);
          else this.onAuthResult(auth, o.result);
          continue;
        }
        const acct = this.accts.get(o.handle);
        if (acct) {
          this.accts.delete(o.handle);
          this.onAcctResult(acct, o.result);
        }
      } else this.o.log(o);
    }
  }

  private input(f: () => void): void {
    if (this.stopped) return;
    f();
    this.arm();
  }

  private now(): number {
    return this.o.clock.now();
  }

  private nextDeadline(): number | undefined {
    let d = this.client.nextDeadline();
    const consider = (v: number | undefined): void => {
      if (v !== undefined && (d === undefined || v < d)) d = v;
    };
    for (const a of this.accounted.values()) consider(a.nextInterim);
    if (this.spool.size > 0) consider(this.nextSpoolTry);
    return d;
  }

  private arm(): void {
    if (this.stopped || !this.sock) return;
    const at = this.nextDeadline();
    if (at === undefined || (this.timerAt !== undefined && this.timerAt <= at)) return;
    if (this.timerHandle !== undefined) this.o.timer.clear(this.timerHandle);
    this.timerAt = at;
    this.timerHandle = this.o.timer.set(() => this.fire(), Math.max(0, Math.ceil(at - this.now())));
  }

  private fire(): void {
    this.timerHandle = undefined;
    this.timerAt = undefined;
    this.input(() => {
      const now = this.now();
      this.onClient(this.client.tick(now));
      this.interims(now);
      this.retrySpool(now);
    });
  }
}
