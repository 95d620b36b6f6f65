import { Counters, DropLimiter } from '../core/counters.js';
import { isDecodeError } from '../core/errors.js';
import { logEvent, type LogEvent } from '../core/log.js';
import { attr, decodeAttributes, encodeAttributes, getText, type Attribute } from './attributes.js';
import { signResponse, verifyZeroAuthRequest } from './crypto.js';
import { CODE, CODE_NAMES, ERROR_CAUSE } from './dictionary.js';
import { decodePacket } from './packet.js';

/**
 * The NAS side of RFC 5176 Dynamic Authorization, sans-I/O: Disconnect-Request and
 * CoA-Request from configured RADIUS clients (by source address, each with its
 * secret), checked like an Accounting-Request (RFC 5176 §2.3: the Request
 * Authenticator is an MD5 over the packet and the secret; a Message-Authenticator,
 * optional there, is checked when present and may be required). A request that
 * passes becomes a 'request' output naming the session (Acct-Session-Id, User-Name,
 * Framed-IP-Address); the host ends it and calls answer(), which sends the ACK, or a
 * NAK with its Error-Cause. A retransmitted request (same source, Identifier and
 * Authenticator) gets the same reply again, not a second action (RFC 5080 §2.2.2).
 */

export interface DynAuthClient {
  address: string;
  secret: string | Uint8Array;
  name?: string;
}

export interface DynAuthOptions {
  clients: readonly DynAuthClient[];
  /** Our NAS-Identifier / NAS-IP-Address: a request naming another NAS gets a NAK 403 (RFC 5176 §3). */
  nasIdentifier?: string;
  nasIpAddress?: string;
  /** Drop requests without a Message-Authenticator (default false: radclient sends none unless told to). */
  requireMessageAuthenticator?: boolean;
  /** How long a reply is kept for a retransmission (default 30 s). */
  replayWindowMs?: number;
  /** Requests the host has not answered yet, at most (default 256; past it NAK 506). */
  maxOutstanding?: number;
  counters?: Counters;
}

export interface DynAuthRequest {
  kind: 'disconnect' | 'coa';
  client: string;
  sessionId?: string;
  userName?: string;
  framedIpAddress?: string;
  attributes: Attribute[];
}

export type DynAuthVerdict = { ok: true } | { ok: false; errorCause: number };

export type DynAuthOutput =
  | { type: 'request'; token: number; request: DynAuthRequest }
  | { type: 'send'; address: string; port: number; datagram: Buffer }
  | LogEvent;

interface Seen {
  authenticator: Buffer;
  expires: number;
  /** The reply once answered. */
  reply?: Buffer;
}

interface Open {
  key: string;
  code: number;
  identifier: number;
  authenticator: Buffer;
  secret: Buffer;
  address: string;
  port: number;
}

const MAX_SEEN = 4096;

export class DynAuthServer {
  private readonly clients = new Map<string, { name: string; secret: Buffer }>();
  private readonly seen = new Map<string, Seen>();
  private readonly open = new Map<number, Open>();
  private readonly limiter = new DropLimiter();
  private readonly counters: Counters;
  private nextToken = 1;
  private out: DynAuthOutput[] = [];

  constructor(private readonly opts: DynAuthOptions) {
    for (const c of opts.clients) {
      const secret = typeof c.secret === 'string' ? Buffer.from(c.secret, 'utf8') : Buffer.from(c.secret);
      if (secret.length === 0) throw new RangeError(`dynamic authorization client ${c.address}: empty secret`);
      this.clients.set(c.address, { name: c.name ?? c.address, secret });
    }
    this.counters = opts.counters ?? new Counters('radius.dynauth');
  }

  receive(datagram: Uint8Array, from: { address: string; port: number }, now: number): DynAuthOutput[] {
    const client = this.clients.get(from.address);
    if (!client) {
      this.drop('unknown-client', from.address, `from ${from.address}:${from.port}`, now);
      return this.flush();
    }
    try {
      const packet = decodePacket(datagram);
      if (packet.code !== CODE.DisconnectRequest && packet.code !== CODE.CoARequest) {
        this.drop('unexpected-code', from.address, `${CODE_NAMES[packet.code] ?? packet.code}`, now);
        return this.flush();
      }
      const check = verifyZeroAuthRequest(datagram, client.secret);
      if (!check.authenticator) {
        this.drop('bad-authenticator', from.address, 'Request Authenticator does not match (wrong secret or forged)', now);
        return this.flush();
      }
      if (check.messageAuthenticator === 'invalid' || (check.messageAuthenticator === 'absent' && this.opts.requireMessageAuthenticator)) {
        this.drop(check.messageAuthenticator === 'invalid' ? 'bad-message-authenticator' : 'no-message-authenticator', from.address, 'Message-Authenticator', now);
        return this.flush();
      }
      this.expire(now);
      const key = `${from.address}:${from.port}:${packet.identifier}`;
      const authenticator = Buffer.from(packet.authenticator);
      const prior = this.seen.get(key);
      if (prior && prior.authenticator.equals(authenticator)) {
        // a retransmission: the same reply again, or nothing while the host decides
        this.counters.inc('duplicates');
        if (prior.reply) this.out.push({ type: 'send', address: from.address, port: from.port, datagram: prior.reply });
        return this.flush();
      }
      this.seen.delete(key); // re-inserted last: the map stays in expiry order
      if (this.seen.size >= MAX_SEEN) this.seen.delete(this.seen.keys().next().value as string);
      this.seen.set(key, { authenticator, expires: now + (this.opts.replayWindowMs ?? 30_000) });
      const o: Open = { key, code: packet.code, identifier: packet.identifier, authenticator, secret: client.secret, address: from.address, port: from.port };
      const attributes = decodeAttributes(packet.attributes);
      const kind = packet.code === CODE.DisconnectRequest ? 'disconnect' : 'coa';
      this.counters.inc(`requests.${kind}`);
      const nasId = getText(attributes, 'NAS-Identifier');
      const nasIp = getText(attributes, 'NAS-IP-Address');
      if ((nasId !== undefined && this.opts.nasIdentifier !== undefined && nasId !== this.opts.nasIdentifier) || (nasIp !== undefined && this.opts.nasIpAddress !== undefined && nasIp !== this.opts.nasIpAddress)) {
        this.reply(o, { ok: false, errorCause: ERROR_CAUSE.NASIdentificationMismatch });
        return this.flush();
      }
      const request: DynAuthRequest = { kind, client: client.name, attributes };
      const sessionId = getText(attributes, 'Acct-Session-Id');
      const userName = getText(attributes, 'User-Name');
      const framedIp = getText(attributes, 'Framed-IP-Address');
      if (sessionId !== undefined) request.sessionId = sessionId;
      if (userName !== undefined) request.userName = userName;
      if (framedIp !== undefined) request.framedIpAddress = framedIp;
      if (sessionId === undefined && userName === undefined && framedIp === undefined) {
        this.reply(o, { ok: false, errorCause: ERROR_CAUSE.MissingAttribute });
        return this.flush();
      }
      if (this.open.size >= (this.opts.maxOutstanding ?? 256)) {
        this.reply(o, { ok: false, errorCause: ERROR_CAUSE.ResourcesUnavailable });
        return this.flush();
      }
      const token = this.nextToken++;
      this.open.set(token, o);
      this.out.push(logEvent('info', `radius.${kind}-request`, { client: client.name, sessionId, userName, framedIp }));
      this.out.push({ type: 'request', token, request });
    } catch (e) {
      const reason = isDecodeError(e) ? e.reason : 'internal-error';
      this.drop(reason === 'bad-attribute-value' ? 'malformed-attribute' : reason, from.address, e instanceof Error ? e.message : String(e), now);
    }
    return this.flush();
  }

  /** The host's decision for a 'request' output: the ACK, or a NAK with this Error-Cause. */
  answer(token: number, verdict: DynAuthVerdict): DynAuthOutput[] {
    const o = this.open.get(token);
    if (!o) return [];
    this.open.delete(token);
    this.reply(o, verdict);
    return this.flush();
  }

  /** Requests the host still has to answer. */
  get outstanding(): number {
    return this.open.size;
  }

  private reply(o: Open, verdict: DynAuthVerdict): void {
    const disconnect = o.code === CODE.DisconnectRequest;
    const code = verdict.ok ? (disconnect ? CODE.DisconnectACK : CODE.CoAACK) : disconnect ? CODE.DisconnectNAK : CODE.CoANAK;
    const attributes = verdict.ok ? [] : encodeAttributes([attr('Error-Cause', verdict.errorCause)]);
    const datagram = signResponse({ code, identifier: o.identifier, authenticator: o.authenticator, attributes }, o.authenticator, o.secret);
    const s = this.seen.get(o.key);
    if (s && s.authenticator.equals(o.authenticator)) s.reply = datagram;
    this.counters.inc(`replies.${CODE_NAMES[code]}`);
    this.out.push({ type: 'send', address: o.address, port: o.port, datagram });
  }

  private expire(now: number): void {
    for (const [k, s] of this.seen) {
      if (s.expires > now) break; // insertion order = expiry order (one window for all)
      this.seen.delete(k);
    }
  }

  private drop(reason: string, source: string, message: string, now: number): void {
    this.counters.inc(`drop.${reason}`);
    const suppressed = this.limiter.allow(reason, source, now);
    if (suppressed < 0) return;
    this.out.push(logEvent('warn', 'radius.dynauth.drop', { reason, source, message, ...(suppressed > 0 ? { suppressed } : {}) }));
  }

  private flush(): DynAuthOutput[] {
    const o = this.out;
    this.out = [];
    return o;
  }
}
