import { Counters, DropLimiter } from '../core/counters.js';
import { isDecodeError } from '../core/errors.js';
import { logEvent, type LogEvent } from '../core/log.js';
import { decodeAttributes, encodeAttributes, type Attribute } from './attributes.js';
import { signAccessRequest, signZeroAuthRequest, verifyResponse } from './crypto.js';
import { CODE, CODE_NAMES } from './dictionary.js';
import { decodePacket } from './packet.js';

/**
 * A sans-I/O RADIUS client (RFC 2865 authentication, RFC 2866 accounting). The host
 * hands it requests, the datagrams that arrive and the time; it hands back datagrams
 * to send (server address and port), one result per request (a response, or a
 * timeout once every server was tried) and the next deadline.
 *
 * - Identifiers: 256 per server endpoint (address and port; auth and accounting
 *   ports are two), never reused while a request that holds one is outstanding,
 *   handed out round robin so a late answer meets another Request Authenticator.
 * - Retransmission: the same datagram (same Identifier and Authenticator,
 *   RFC 5080 §2.2.1) after timeoutMs, doubling up to maxTimeoutMs, `tries` times per
 *   server; then the server is marked dead for deadTimeMs and the request goes to the
 *   next server with a new Identifier and Authenticator (and its own secret).
 * - Every request carries a Message-Authenticator, first. Every Access-Accept,
 *   -Reject and -Challenge must carry a valid one (BlastRADIUS, CVE-2024-3596): one
 *   without is dropped and counted, unless requireMessageAuthenticator is false
 *   (warned about when the client is made and counted on each such reply). An
 *   Accounting-Response's is checked when present (RFC 2866 has none; the forgery
 *   gains nothing there: its Response Authenticator already covers the secret).
 * - A response that does not match (unknown endpoint or Identifier, wrong code for
 *   the request, bad Response Authenticator or Message-Authenticator, malformed) is
 *   dropped, counted by reason and server, and logged rate-limited; nothing a
 *   server sends can throw out of receive().
 */

export interface RadiusServer {
  address: string;
  /** Default 1812. */
  authPort?: number;
  /** Default 1813. */
  acctPort?: number;
  secret: string | Uint8Array;
  /** For logs and status; default "address". */
  name?: string;
}

export interface RadiusClientOptions {
  servers: readonly RadiusServer[];
  /** Random octets (Request Authenticators, salts); injected for tests. */
  random: (n: number) => Buffer;
  /** First retransmission timeout; doubled on each retransmission (default 3000 ms). */
  timeoutMs?: number;
  /** Cap of the doubled timeout (default 12000 ms). */
  maxTimeoutMs?: number;
  /** Transmissions to one server before the next is tried (default 3). */
  tries?: number;
  /** How long a server that did not answer is passed over (default 30 s). */
  deadTimeMs?: number;
  /**
   * Require a valid Message-Authenticator in Access-Accept/Reject/Challenge (default true).
   * false only for old servers that cannot send one: it reopens CVE-2024-3596.
   */
  requireMessageAuthenticator?: boolean;
  /** Requests held at once (in flight and waiting for an Identifier); past it a request fails at once (default 4096). */
  maxPending?: number;
  counters?: Counters;
}

export type RequestKind = 'auth' | 'acct';

export interface RadiusRequest {
  /** Access-Request, Accounting-Request or Status-Server. */
  code: number;
  attributes: Attribute[];
}

export type RadiusResult =
  | { kind: 'accept' | 'reject' | 'challenge' | 'accounted'; code: number; attributes: Attribute[]; server: string }
  | { kind: 'timeout'; servers: string[] }
  | { kind: 'overload' }
  /** The request cannot be encoded (a value too long for an attribute, say a 254-octet User-Name from a peer). */
  | { kind: 'invalid'; reason: string };

export type RadiusOutput =
  | { type: 'send'; server: string; address: string; port: number; datagram: Buffer }
  | { type: 'result'; handle: number; result: RadiusResult }
  | LogEvent;

export type ServerState = 'alive' | 'dead';

export interface ServerStatus {
  name: string;
  address: string;
  authPort: number;
  acctPort: number;
  state: ServerState;
  /** Time (the client's clock) until which a dead server is passed over. */
  deadUntil: number;
  /** When its last valid reply came (the client's clock); undefined: none yet. */
  lastAnswer: number | undefined;
  outstanding: number;
  counters: Record<string, number>;
}

/** One server endpoint's Identifier space. */
class IdSpace {
  readonly held = new Map<number, Pending>();
  private next = 0;

  take(p: Pending): number | undefined {
    if (this.held.size >= 256) return undefined;
    for (let i = 0; i < 256; i++) {
      const id = (this.next + i) & 0xff;
      if (!this.held.has(id)) {
        this.held.set(id, p);
        this.next = (id + 1) & 0xff;
        return id;
      }
    }
    return undefined;
  }

  release(id: number, p: Pending): void {
    if (this.held.get(id) === p) this.held.delete(id);
  }
}

interface ServerEntry {
  name: string;
  address: string;
  authPort: number;
  acctPort: number;
  secret: Buffer;
  deadUntil: number;
  /** When the last valid reply came (the client's clock). */
  lastAnswer: number | undefined;
  counters: Counters;
  auth: IdSpace;
  acct: IdSpace;
}

interface InFlight {
  server: number;
  id: number;
  authenticator: Buffer;
  datagram: Buffer;
  port: number;
  space: IdSpace;
  transmits: number;
  rto: number;
  deadline: number;
}

interface Pending {
  handle: number;
  kind: RequestKind;
  req: RadiusRequest;
  tried: number[];
  flight: InFlight | undefined;
}

const RESPONSE_CODES: Record<number, readonly number[]> = {
  [CODE.AccessRequest]: [CODE.AccessAccept, CODE.AccessReject, CODE.AccessChallenge],
  [CODE.AccountingRequest]: [CODE.AccountingResponse],
  [CODE.StatusServer]: [CODE.AccessAccept, CODE.AccountingResponse],
};

const KIND_OF_CODE: Record<number, 'accept' | 'reject' | 'challenge' | 'accounted'> = {
  [CODE.AccessAccept]: 'accept',
  [CODE.AccessReject]: 'reject',
  [CODE.AccessChallenge]: 'challenge',
  [CODE.AccountingResponse]: 'accounted',
};

export class RadiusClient {
  private readonly servers: ServerEntry[];
  private readonly pending = new Map<number, Pending>();
  /** Requests waiting for an Identifier (every server's space full), oldest first. */
  private readonly waiting: Pending[] = [];
  private readonly byEndpoint = new Map<string, { server: number; space: IdSpace }>();
  private readonly limiter = new DropLimiter();
  private readonly counters: Counters;
  private out: RadiusOutput[] = [];
  private nextHandle = 1;
  private readonly timeoutMs: number;
  private readonly maxTimeoutMs: number;
  private readonly tries: number;
  private readonly deadTimeMs: number;
  private readonly requireMA: boolean;
  private readonly maxPending: number;

  constructor(private readonly opts: RadiusClientOptions) {
    if (opts.servers.length === 0) throw new RangeError('RADIUS client needs at least one server');
    this.timeoutMs = opts.timeoutMs ?? 3000;
    this.maxTimeoutMs = Math.max(this.timeoutMs, opts.maxTimeoutMs ?? 12_000);
    this.tries = Math.max(1, opts.tries ?? 3);
    this.deadTimeMs = opts.deadTimeMs ?? 30_000;
    this.requireMA = opts.requireMessageAuthenticator ?? true;
    this.maxPending = opts.maxPending ?? 4096;
    this.counters = opts.counters ?? new Counters('radius');
    this.servers = opts.servers.map((s) => {
      const name = s.name ?? s.address;
      const e: ServerEntry = {
        name,
        address: s.address,
        authPort: s.authPort ?? 1812,
        acctPort: s.acctPort ?? 1813,
        secret: typeof s.secret === 'string' ? Buffer.from(s.secret, 'utf8') : Buffer.from(s.secret),
        deadUntil: 0,
        lastAnswer: undefined,
        counters: this.counters.view(`server.${name}.`),
        auth: new IdSpace(),
        acct: new IdSpace(),
      };
      if (e.secret.length === 0) throw new RangeError(`RADIUS server ${name}: empty secret`);
      return e;
    });
    this.servers.forEach((e, i) => {
      for (const [port, space] of [
        [e.authPort, e.auth],
        [e.acctPort, e.acct],
      ] as const) {
        const key = `${e.address}:${port}`;
        if (this.byEndpoint.has(key)) throw new RangeError(`RADIUS server endpoint ${key} listed twice`);
        this.byEndpoint.set(key, { server: i, space });
      }
    });
    if (!this.requireMA) {
      this.out.push(
        logEvent('warn', 'radius.message-authenticator.not-required', {
          message: 'require_message_authenticator = false: Access-Accept/Reject without Message-Authenticator are accepted (BlastRADIUS, CVE-2024-3596); configure the RADIUS server to send it',
        }),
      );
    }
  }

  /** Queue a request; its result comes later as a 'result' output with this handle. */
  request(req: RadiusRequest, now: number): { handle: number; out: RadiusOutput[] } {
    const handle = this.nextHandle++;
    const kind: RequestKind = req.code === CODE.AccountingRequest ? 'acct' : 'auth';
    if (!RESPONSE_CODES[req.code]) throw new RangeError(`RADIUS client does not send ${CODE_NAMES[req.code] ?? req.code}`);
    if (this.pending.size >= this.maxPending) {
      this.counters.inc('overload');
      this.out.push({ type: 'result', handle, result: { kind: 'overload' } });
      return { handle, out: this.flush() };
    }
    const p: Pending = { handle, kind, req, tried: [], flight: undefined };
    this.pending.set(handle, p);
    this.dispatch(p, now);
    return { handle, out: this.flush() };
  }

  /** Forget a request (its session went away); a late answer is dropped as unknown. */
  cancel(handle: number): void {
    const p = this.pending.get(handle);
    if (!p) return;
    this.release(p);
    this.pending.delete(handle);
    const w = this.waiting.indexOf(p);
    if (w >= 0) this.waiting.splice(w, 1);
  }

  receive(datagram: Uint8Array, from: { address: string; port: number }, now: number): RadiusOutput[] {
    const ep = this.byEndpoint.get(`${from.address}:${from.port}`);
    if (!ep) {
      this.drop(undefined, 'unknown-server', `${from.address}:${from.port}`, now);
      return this.flush();
    }
    const server = this.servers[ep.server]!;
    if (datagram.length < 20) {
      this.drop(server, 'malformed', 'shorter than a RADIUS header', now);
      return this.flush();
    }
    const p = ep.space.held.get(datagram[1]!);
    const f = p?.flight;
    if (!p || !f || f.space !== ep.space) {
      this.drop(server, 'unknown-id', `Identifier ${datagram[1]} is not outstanding`, now);
      return this.flush();
    }
    try {
      const packet = decodePacket(datagram);
      if (!RESPONSE_CODES[p.req.code]!.includes(packet.code)) {
        this.drop(server, 'unexpected-code', `${CODE_NAMES[packet.code] ?? packet.code} to ${CODE_NAMES[p.req.code]}`, now);
        return this.flush();
      }
      const check = verifyResponse(datagram, f.authenticator, server.secret);
      if (!check.authenticator) {
        this.drop(server, 'bad-authenticator', 'Response Authenticator does not match (wrong secret or forged)', now);
        return this.flush();
      }
      if (check.messageAuthenticator === 'invalid') {
        this.drop(server, 'bad-message-authenticator', 'Message-Authenticator does not match', now);
        return this.flush();
      }
      const accessReply = packet.code === CODE.AccessAccept || packet.code === CODE.AccessReject || packet.code === CODE.AccessChallenge;
      if (check.messageAuthenticator === 'absent' && accessReply) {
        if (this.requireMA) {
          this.drop(server, 'no-message-authenticator', `${CODE_NAMES[packet.code]} without Message-Authenticator (BlastRADIUS, CVE-2024-3596): see the README for the server setting`, now);
          return this.flush();
        }
        server.counters.inc('accepted-without-message-authenticator');
      }
      const attributes = decodeAttributes(packet.attributes, { secret: server.secret, authenticator: f.authenticator });
      const kind = KIND_OF_CODE[packet.code]!;
      server.counters.inc(`responses.${kind}`);
      server.deadUntil = 0;
      server.lastAnswer = now;
      this.finish(p, { kind, code: packet.code, attributes, server: server.name }, now);
    } catch (e) {
      // nothing a server sends may throw out of here: a decode error is a malformed reply, anything else our bug
      const reason = !isDecodeError(e) ? 'internal-error' : e.reason === 'bad-salted' || e.reason === 'bad-attribute-value' ? 'malformed-attribute' : 'malformed';
      this.drop(server, reason, e instanceof Error ? e.message : String(e), now);
    }
    return this.flush();
  }

  tick(now: number): RadiusOutput[] {
    for (const p of [...this.pending.values()]) {
      const f = p.flight;
      if (!f || now < f.deadline) continue;
      const server = this.servers[f.server]!;
      if (f.transmits < this.tries) {
        f.transmits++;
        f.rto = Math.min(f.rto * 2, this.maxTimeoutMs);
        f.deadline = now + f.rto;
        server.counters.inc('retransmissions');
        this.send(server, f);
        continue;
      }
      server.counters.inc('timeouts');
      if (server.deadUntil <= now) {
        this.out.push(logEvent('warn', 'radius.server.dead', { server: server.name, kind: p.kind, seconds: this.deadTimeMs / 1000 }));
      }
      server.deadUntil = now + this.deadTimeMs;
      this.release(p);
      this.dispatch(p, now);
    }
    this.serveWaiting(now);
    return this.flush();
  }

  nextDeadline(): number | undefined {
    let d: number | undefined;
    for (const p of this.pending.values()) if (p.flight && (d === undefined || p.flight.deadline < d)) d = p.flight.deadline;
    return d;
  }

  /** Each server's state and counters, for status and metrics. */
  status(now: number): ServerStatus[] {
    return this.servers.map((s) => ({
      name: s.name,
      address: s.address,
      authPort: s.authPort,
      acctPort: s.acctPort,
      state: s.deadUntil > now ? 'dead' : 'alive',
      deadUntil: s.deadUntil,
      lastAnswer: s.lastAnswer,
      outstanding: s.auth.held.size + s.acct.held.size,
      counters: s.counters.snapshot(),
    }));
  }

  /** Where a request's current transmission went (undefined while it waits for an Identifier, or once it ended). */
  flightOf(handle: number): { address: string; port: number; identifier: number } | undefined {
    const f = this.pending.get(handle)?.flight;
    return f ? { address: this.servers[f.server]!.address, port: f.port, identifier: f.id } : undefined;
  }

  /** Requests held (in flight or waiting). */
  get size(): number {
    return this.pending.size;
  }

  // ---- internals ----

  /** Send p to the next server it has not tried: alive ones in configured order, then dead ones. */
  private dispatch(p: Pending, now: number): void {
    const order = this.order(now).filter((i) => !p.tried.includes(i));
    if (order.length === 0) {
      this.finish(p, { kind: 'timeout', servers: p.tried.map((i) => this.servers[i]!.name) }, now);
      return;
    }
    for (const i of order) {
      if (this.start(p, i, now)) return;
      if (!this.pending.has(p.handle)) return; // could not be encoded: finished as invalid
    }
    // every untried server's Identifier space is full: wait for one to free
    this.counters.inc('waiting');
    this.waiting.push(p);
  }

  private order(now: number): number[] {
    const idx = this.servers.map((_, i) => i);
    const alive = idx.filter((i) => this.servers[i]!.deadUntil <= now);
    const dead = idx.filter((i) => this.servers[i]!.deadUntil > now).sort((a, b) => this.servers[a]!.deadUntil - this.servers[b]!.deadUntil);
    return [...alive, ...dead];
  }

  private start(p: Pending, i: number, now: number): boolean {
    const server = this.servers[i]!;
    const space = p.kind === 'acct' ? server.acct : server.auth;
    const id = space.take(p);
    if (id === undefined) return false;
    let authenticator: Buffer;
    let datagram: Buffer;
    try {
      if (p.kind === 'acct') {
        const attributes = encodeAttributes(p.req.attributes);
        datagram = signZeroAuthRequest({ code: p.req.code, identifier: id, authenticator: Buffer.alloc(16), attributes }, server.secret);
        authenticator = Buffer.from(datagram.subarray(4, 20));
      } else {
        authenticator = this.opts.random(16);
        const attributes = encodeAttributes(p.req.attributes, { secret: server.secret, authenticator, salt: () => this.opts.random(2) });
        datagram = signAccessRequest({ code: p.req.code, identifier: id, authenticator, attributes }, server.secret);
      }
    } catch (e) {
      // Values come from peers (User-Name) and servers (Class): one that does not fit ends
      // this request, never the caller.
      space.release(id, p);
      if (!(e instanceof RangeError)) throw e;
      this.counters.inc('invalid');
      this.out.push(logEvent('warn', 'radius.request.invalid', { message: e.message }));
      this.finish(p, { kind: 'invalid', reason: e.message }, now);
      return false;
    }
    p.tried.push(i);
    const f: InFlight = {
      server: i,
      id,
      authenticator,
      datagram,
      port: p.kind === 'acct' ? server.acctPort : server.authPort,
      space,
      transmits: 1,
      rto: this.timeoutMs,
      deadline: now + this.timeoutMs,
    };
    p.flight = f;
    server.counters.inc(`requests.${p.kind}`);
    this.send(server, f);
    return true;
  }

  private send(server: ServerEntry, f: InFlight): void {
    this.out.push({ type: 'send', server: server.name, address: server.address, port: f.port, datagram: f.datagram });
  }

  private release(p: Pending): void {
    if (p.flight) p.flight.space.release(p.flight.id, p);
    p.flight = undefined;
  }

  private finish(p: Pending, result: RadiusResult, now: number): void {
    this.release(p);
    this.pending.delete(p.handle);
    const w = this.waiting.indexOf(p);
    if (w >= 0) this.waiting.splice(w, 1);
    if (result.kind === 'timeout') this.counters.inc('timeouts');
    this.out.push({ type: 'result', handle: p.handle, result });
    this.serveWaiting(now);
  }

  private serveWaiting(now: number): void {
    while (this.waiting.length > 0) {
      const p = this.waiting[0]!;
      let moved = false;
      for (const i of this.order(now).filter((j) => !p.tried.includes(j))) {
        // sent, or finished as invalid (finish took it off the list)
        if (this.start(p, i, now) || !this.pending.has(p.handle)) {
          moved = true;
          break;
        }
      }
      if (!moved) return;
      if (this.waiting[0] === p) this.waiting.shift();
    }
  }

  private drop(server: ServerEntry | undefined, reason: string, message: string, now: number): void {
    if (server) server.counters.inc(`drop.${reason}`);
    this.counters.inc(`drop.${reason}`);
    const suppressed = this.limiter.allow(reason, server?.name, now);
    if (suppressed < 0) return;
    const level = reason === 'no-message-authenticator' || reason === 'bad-authenticator' || reason === 'bad-message-authenticator' ? 'warn' : 'info';
    this.out.push(logEvent(level, 'radius.drop', { reason, server: server?.name, message, ...(suppressed > 0 ? { suppressed } : {}) }));
  }

  private flush(): RadiusOutput[] {
    const o = this.out;
    this.out = [];
    return o;
  }
}
