import { timingSafeEqual } from 'node:crypto';
import { Reader, own } from '../core/bytes.js';
import { logEvent, type LogEvent } from '../core/log.js';
import { encodeControlFrame } from './frame.js';
import { generateAuthenticatorResponseFromHash, ntPasswordHash, verifyNTResponse } from './mschapv2.js';
import { CHAP_CODE, CHAP_CODE_NAMES, PAP_CODE, PAP_CODE_NAMES, PROTO } from './names.js';

/**
 * The authenticator side of MS-CHAPv2 (RFC 2759) and PAP (RFC 1334 §2).
 * Only our own Challenge can lead to Success: a Response before it, with
 * another Identifier, a Success or Failure sent by the peer, are ignored
 * (strongSwan CVE-2015-8023 class).
 */

export interface AuthUser {
  name: string;
  ntHash: Buffer;
}

export interface AuthHooks {
  random(n: number): Buffer;
  send(frame: Buffer): void;
  log(ev: LogEvent): void;
  lookup(name: string): AuthUser | undefined;
  admit(name: string): { ok: true } | { ok: false; message: string };
  /** Password checked and admitted. */
  success(name: string): void;
  /**
   * A failed attempt; `final` = no more tries, the session must close. `checked` = a password
   * was checked and was wrong (or the user is unknown): what failure tracking counts.
   */
  failure(name: string, reason: string, final: boolean, checked: boolean): void;
  /** Milliseconds this user (from this peer) must wait before a password is checked again; 0 = now. */
  blocked?(name: string): number;
  /**
   * A remote verifier (RADIUS): when present the Response is handed to it and the
   * authenticator waits ("pending") for complete(); nothing is checked locally unless
   * the verdict is 'unavailable' and localFallback is set.
   */
  remote?(attempt: RemoteAttempt): void;
  /** Check the users file when the remote verifier cannot be reached. */
  localFallback?: boolean;
  /** Password checked and admitted, with what the remote verifier granted (undefined for a local check). */
  granted?(name: string, grant: RemoteGrant | undefined): void;
}

/** One MS-CHAPv2 Response (RFC 2759 §4) for a remote verifier, or a PAP password. */
export type RemoteAttempt =
  | { method: 'mschapv2'; userName: string; ident: number; authenticatorChallenge: Buffer; peerChallenge: Buffer; ntResponse: Buffer }
  | { method: 'pap'; userName: string; password: Buffer };

/** What a remote verifier allowed beyond the login. */
export interface RemoteGrant {
  /** The client's address (must be free in the pool). */
  address?: string;
  /** Seconds. */
  sessionTimeout?: number;
  idleTimeout?: number;
}

/** A remote verifier's answer. */
export type RemoteVerdict =
  /** success: MS-CHAP2-Success's String ("S=... M=..."), sent to the peer as is. */
  | { kind: 'accept'; success?: string; grant?: RemoteGrant }
  | { kind: 'reject'; reason: string }
  /** No verifier answered (every RADIUS server down). */
  | { kind: 'unavailable'; reason: string };

export interface AuthOptions {
  serverName: string;
  maxTries: number;
  /** Challenge retransmission interval and count (RFC 1994 §4.1; pppd: 3 s, 10). */
  restartMs?: number;
  maxTransmits?: number;
  /** How long we wait for a retry after a Failure with R=1 (the user types a password). */
  retryWaitMs?: number;
  /** Failures already counted in this session (an LCP renegotiation must not reset the count). */
  triesUsed?: number;
}

export interface Authenticator {
  start(now: number): void;
  receive(code: number, id: number, data: Uint8Array, now: number): void;
  tick(now: number): void;
  nextDeadline(): number | undefined;
  /** The peer sent an NCP packet: it is past authentication (it has our Success). */
  peerInNetworkPhase?(): void;
  /** The remote verifier's answer to the attempt it was handed (ignored unless one is pending). */
  complete?(verdict: RemoteVerdict, now: number): void;
  /** Waiting for the remote verifier. */
  readonly pending?: boolean;
  readonly done: boolean;
}

/** A hash no password has, used for unknown users so both paths do the same work. */
const DUMMY_HASH = Buffer.alloc(16, 0xa5);

function lookupUser(hooks: AuthHooks, name: string): AuthUser | undefined {
  const direct = hooks.lookup(name);
  if (direct) return direct;
  // RFC 2759 §8.2: a Windows peer may prepend DOMAIN\ to its name.
  const i = name.lastIndexOf('\\');
  return i >= 0 ? hooks.lookup(name.slice(i + 1)) : undefined;
}

type ChapState = 'initial' | 'challenge-sent' | 'retry-wait' | 'pending' | 'success' | 'failed';

export class MsChapV2Server implements Authenticator {
  private state: ChapState = 'initial';
  private challenge: Buffer = Buffer.alloc(16);
  private id = 0;
  private tries = 0;
  private transmits = 0;
  private deadline: number | undefined;
  /** The Identifier we answered last and our answer, resent on a duplicate Response (RFC 1994 §4.2). */
  private answeredId = -1;
  private answer: Buffer | undefined;
  private answeredData: Buffer | undefined;
  /** Success sent again while the peer shows no sign of having it (see tick). */
  private successResends = 0;
  /** The Response handed to the remote verifier, kept for a local fallback. */
  private waiting: { id: number; name: string; hashName: Uint8Array; peerChallenge: Uint8Array; ntResponse: Uint8Array } | undefined;
  private readonly restartMs: number;
  private readonly maxTransmits: number;
  private readonly retryWaitMs: number;

  constructor(
    private readonly hooks: AuthHooks,
    private readonly opts: AuthOptions,
  ) {
    this.restartMs = opts.restartMs ?? 3000;
    this.maxTransmits = opts.maxTransmits ?? 10;
    this.retryWaitMs = opts.retryWaitMs ?? 60_000;
    this.tries = opts.triesUsed ?? 0;
  }

  get done(): boolean {
    return this.state === 'success' || this.state === 'failed';
  }

  get pending(): boolean {
    return this.state === 'pending';
  }

  nextDeadline(): number | undefined {
    return this.deadline;
  }

  start(now: number): void {
    if (this.state !== 'initial') return;
    this.challenge = this.hooks.random(16);
    this.id = this.hooks.random(1)[0]!;
    this.state = 'challenge-sent';
    this.transmits = 0;
    this.sendChallenge(now);
  }

  /**
   * RFC 2759 §3 Challenge: Value-Size 16, Challenge, Name.
   */
  private sendChallenge(now: number): void {
    const name = Buffer.from(this.opts.serverName, 'utf8');
    const data = Buffer.alloc(1 + 16 + name.length);
    data[0] = 16;
    this.challenge.copy(data, 1);
    name.copy(data, 17);
    this.transmits++;
    this.deadline = now + this.restartMs;
    this.hooks.send(encodeControlFrame(PROTO.CHAP, CHAP_CODE.Challenge, this.id, data));
  }

  tick(now: number): void {
    if (this.deadline === undefined || now < this.deadline) return;
    this.deadline = undefined;
    if (this.state === 'success') {
      // A lost Success is never asked for again: the peer waits in its authenticate phase and
      // discards our IPCP (pppd does), so it is repeated until the peer sends an NCP packet.
      if (this.answer && this.successResends < this.maxTransmits) {
        this.successResends++;
        this.deadline = now + this.restartMs;
        this.hooks.send(this.answer);
      }
      return;
    }
    if (this.state === 'challenge-sent' && this.transmits < this.maxTransmits) return this.sendChallenge(now);
    if (this.state === 'challenge-sent' || this.state === 'retry-wait') {
      this.state = 'failed';
      this.hooks.failure('', 'authentication timeout: no Response to our Challenge', true, false);
    }
  }

  receive(code: number, id: number, data: Uint8Array, now: number): void {
    if (code !== CHAP_CODE.Response) {
      // We are the authenticator: a Challenge, Success or Failure from the peer is never acted upon.
      this.hooks.log(logEvent('warn', 'ppp.mschapv2.unexpected-code', { code: CHAP_CODE_NAMES[code] ?? code, id, state: this.state }));
      return;
    }
    if (id === this.answeredId && this.answer && this.answeredData && Buffer.compare(this.answeredData, data) === 0) {
      // A duplicate of a Response we answered (our Success/Failure was lost): resend the same answer, decide nothing.
      this.hooks.send(this.answer);
      return;
    }
    if (this.state === 'pending') {
      // the peer retransmits its Response while RADIUS decides: asked once, answered once
      this.hooks.log(logEvent('debug', 'ppp.mschapv2.response-while-pending', { id }));
      return;
    }
    if (this.state !== 'challenge-sent' && this.state !== 'retry-wait') {
      this.hooks.log(logEvent('warn', 'ppp.mschapv2.unexpected-response', { id, state: this.state }));
      return;
    }
    if (this.state === 'challenge-sent' && id !== this.id) {
      this.hooks.log(logEvent('warn', 'ppp.mschapv2.response-id-mismatch', { id, expected: this.id }));
      return;
    }
    // RFC 2759 §4 Response: Value-Size (49), Peer-Challenge[16], Reserved[8], NT-Response[24], Flags, Name.
    const r = new Reader(data);
    const valueSize = r.u8('Value-Size');
    if (valueSize !== 49) r.fail(`MS-CHAPv2 Value-Size ${valueSize} != 49`, 'bad-value-size', 0);
    const peerChallenge = r.bytes(16, 'Peer-Challenge');
    r.skip(8, 'Reserved');
    const ntResponse = r.bytes(24, 'NT-Response');
    r.skip(1, 'Flags');
    const nameBytes = r.rest();
    if (nameBytes.length === 0 || nameBytes.length > 255) r.fail(`user name length ${nameBytes.length}`, 'bad-name', 50);
    for (const c of nameBytes) if (c < 0x20 || c === 0x7f) r.fail('control character in user name', 'bad-name', 50);
    const name = Buffer.from(nameBytes).toString('utf8');
    // RFC 2759 §8.2: the hashed user name excludes a DOMAIN\ prefix.
    const slash = nameBytes.lastIndexOf(0x5c);
    const hashName = slash >= 0 ? nameBytes.subarray(slash + 1) : nameBytes;

    // kept for the session's life: memory of its own, not a slice of Node's shared 8 KiB pool (which it would keep whole)
    this.answeredData = own(data);
    const wait = this.hooks.blocked?.(name) ?? 0;
    if (wait > 0) {
      // Too many recent failures for this user or address: Failure without checking the
      // password (no oracle), the same bytes on the wire as a wrong password.
      this.deadline = undefined;
      this.tries++;
      const final = this.tries >= this.opts.maxTries;
      this.fail(id, name, `blocked for ${Math.ceil(wait / 1000)} s after repeated failures`, final ? 'E=691 R=0' : 'E=691 R=1', final, now, false);
      return;
    }
    this.deadline = undefined;
    if (this.hooks.remote) {
      this.state = 'pending';
      this.waiting = { id, name, hashName, peerChallenge, ntResponse };
      this.hooks.remote({
        method: 'mschapv2',
        userName: name,
        ident: id,
        authenticatorChallenge: Buffer.from(this.challenge),
        peerChallenge: Buffer.from(peerChallenge),
        ntResponse: Buffer.from(ntResponse),
      });
      return;
    }
    this.checkLocally(id, name, hashName, peerChallenge, ntResponse, now);
  }

  private checkLocally(id: number, name: string, hashName: Uint8Array, peerChallenge: Uint8Array, ntResponse: Uint8Array, now: number): void {
    const user = lookupUser(this.hooks, name);
    const ok = verifyNTResponse(this.challenge, peerChallenge, hashName, user?.ntHash ?? DUMMY_HASH, ntResponse) && user !== undefined;
    if (ok) {
      // RFC 2759 §5: "S=<auth_string> M=<message>".
      this.accept(id, name, user.name, `${generateAuthenticatorResponseFromHash(user.ntHash, ntResponse, peerChallenge, this.challenge, hashName)} M=Welcome`, undefined, now);
      return;
    }
    this.tries++;
    const final = this.tries >= this.opts.maxTries;
    this.fail(id, name, user ? 'wrong password' : 'unknown user', final ? 'E=691 R=0' : 'E=691 R=1', final, now, true);
  }

  private accept(id: number, name: string, user: string, success: string, grant: RemoteGrant | undefined, now: number): void {
    const admitted = this.hooks.admit(user);
    if (!admitted.ok) {
      this.fail(id, name, admitted.message, 'E=649 R=0', true, now, false);
      return;
    }
    this.reply(CHAP_CODE.Success, id, success);
    this.state = 'success';
    this.deadline = now + this.restartMs;
    this.hooks.granted?.(user, grant);
    this.hooks.success(user);
  }

  /**
   * The remote verifier's answer: Accept sends its MS-CHAP2-Success to the peer as is
   * (only RADIUS can compute it: it holds the password); Reject is a wrong password
   * (counted for backoff); unavailable falls back to the users file when allowed.
   */
  complete(verdict: RemoteVerdict, now: number): void {
    const w = this.waiting;
    if (this.state !== 'pending' || !w) return;
    this.waiting = undefined;
    switch (verdict.kind) {
      case 'accept':
        if (!verdict.success || !/^S=[0-9A-F]{40}( M=.*)?$/s.test(verdict.success)) {
          this.tries++;
          const final = this.tries >= this.opts.maxTries;
          this.fail(w.id, w.name, 'RADIUS accepted without a usable MS-CHAP2-Success', final ? 'E=691 R=0' : 'E=691 R=1', final, now, false);
          return;
        }
        this.accept(w.id, w.name, w.name, verdict.success, verdict.grant, now);
        return;
      case 'reject': {
        this.tries++;
        const final = this.tries >= this.opts.maxTries;
        this.fail(w.id, w.name, verdict.reason, final ? 'E=691 R=0' : 'E=691 R=1', final, now, true);
        return;
      }
      case 'unavailable': {
        if (this.hooks.localFallback) {
          this.hooks.log(logEvent('warn', 'ppp.auth.local-fallback', { user: w.name, reason: verdict.reason }));
          this.checkLocally(w.id, w.name, w.hashName, w.peerChallenge, w.ntResponse, now);
          return;
        }
        this.tries++;
        const final = this.tries >= this.opts.maxTries;
        this.fail(w.id, w.name, verdict.reason, final ? 'E=691 R=0' : 'E=691 R=1', final, now, false);
      }
    }
  }

  /** RFC 2759 §6 Failure: "E=eeeeeeeeee R=r C=cccccccccccccccccccccccccccccccc V=vvvvvvvvvv M=<msg>". */
  private fail(id: number, name: string, reason: string, codes: string, final: boolean, now: number, checked: boolean): void {
    this.challenge = this.hooks.random(16);
    // Wrong password and unknown user read the same on the wire (no user enumeration); only an
    // admission refusal, which follows a correct password, carries its reason.
    const message = codes.startsWith('E=649') ? reason.replace(/[^\x20-\x7e]/g, '?') : final ? 'Authentication failed' : 'Authentication failed, try again';
    this.reply(CHAP_CODE.Failure, id, `${codes} C=${this.challenge.toString('hex').toUpperCase()} V=3 M=${message}`);
    if (final) {
      this.state = 'failed';
    } else {
      this.state = 'retry-wait';
      this.deadline = now + this.retryWaitMs;
    }
    this.hooks.failure(name, `${reason} (try ${this.tries}/${this.opts.maxTries})`, final, checked);
  }

  peerInNetworkPhase(): void {
    if (this.state === 'success') this.deadline = undefined;
  }

  private reply(code: number, id: number, message: string): void {
    this.answer = encodeControlFrame(PROTO.CHAP, code, id, Buffer.from(message, 'ascii'));
    this.answeredId = id;
    this.hooks.send(this.answer);
  }
}

type PapState = 'waiting' | 'pending' | 'success' | 'failed';

/** RFC 1334 §2 PAP: only when enabled. Verified against the NT hash (NtPasswordHash of the given password). */
export class PapServer implements Authenticator {
  private state: PapState = 'waiting';
  private tries = 0;
  private deadline: number | undefined;
  private answeredId = -1;
  private answer: Buffer | undefined;

  constructor(
    private readonly hooks: AuthHooks,
    private readonly opts: AuthOptions,
  ) {
    this.tries = opts.triesUsed ?? 0;
  }

  /** The Authenticate-Request handed to the remote verifier. */
  private waitingFor: { id: number; name: string; password: string } | undefined;

  get done(): boolean {
    return this.state === 'success' || this.state === 'failed';
  }

  get pending(): boolean {
    return this.state === 'pending';
  }

  nextDeadline(): number | undefined {
    return this.deadline;
  }

  start(now: number): void {
    // The peer sends Authenticate-Request on its own; we only bound how long we wait.
    this.deadline = now + (this.opts.restartMs ?? 3000) * (this.opts.maxTransmits ?? 10);
  }

  tick(now: number): void {
    if (this.deadline === undefined || now < this.deadline) return;
    this.deadline = undefined;
    if (this.state === 'waiting') {
      this.state = 'failed';
      this.hooks.failure('', 'authentication timeout: no PAP Authenticate-Request', true, false);
    }
  }

  receive(code: number, id: number, data: Uint8Array, _now: number): void {
    if (code !== PAP_CODE.AuthenticateRequest) {
      this.hooks.log(logEvent('warn', 'ppp.pap.unexpected-code', { code: PAP_CODE_NAMES[code] ?? code, id }));
      return;
    }
    if (id === this.answeredId && this.answer) {
      this.hooks.send(this.answer);
      return;
    }
    if (this.state !== 'waiting') return; // pending: a retransmitted request is not asked about twice
    // RFC 1334 §2.2.1: Peer-ID Length, Peer-Id, Passwd-Length, Password.
    const r = new Reader(data);
    const peerId = r.bytes(r.u8('Peer-ID Length'), 'Peer-ID');
    const password = r.bytes(r.u8('Passwd-Length'), 'Password');
    for (const c of peerId) if (c < 0x20 || c === 0x7f) r.fail('control character in Peer-ID', 'bad-name', 1);
    const name = Buffer.from(peerId).toString('utf8');
    const wait = this.hooks.blocked?.(name) ?? 0;
    if (wait > 0) {
      this.tries++;
      const final = this.tries >= this.opts.maxTries;
      this.reply(PAP_CODE.AuthenticateNak, id, 'Authentication failed');
      if (final) this.state = 'failed';
      this.hooks.failure(name, `blocked for ${Math.ceil(wait / 1000)} s after repeated failures (try ${this.tries}/${this.opts.maxTries})`, final, false);
      return;
    }
    const pw = Buffer.from(password).toString('utf8');
    if (this.hooks.remote) {
      this.state = 'pending';
      this.waitingFor = { id, name, password: pw };
      this.deadline = undefined;
      this.hooks.remote({ method: 'pap', userName: name, password: Buffer.from(password) });
      return;
    }
    this.checkLocally(id, name, pw);
  }

  private checkLocally(id: number, name: string, password: string): void {
    const user = lookupUser(this.hooks, name);
    const hash = ntPasswordHash(password);
    const ok = timingSafeEqual(hash, user?.ntHash.length === 16 ? user.ntHash : DUMMY_HASH) && user !== undefined;
    if (ok) {
      this.accept(id, name, user.name, undefined);
      return;
    }
    this.refuse(id, name, user ? 'wrong password' : 'unknown user', true);
  }

  private accept(id: number, name: string, user: string, grant: RemoteGrant | undefined): void {
    const admitted = this.hooks.admit(user);
    if (admitted.ok) {
      this.reply(PAP_CODE.AuthenticateAck, id, 'Welcome');
      this.state = 'success';
      this.deadline = undefined;
      this.hooks.granted?.(user, grant);
      this.hooks.success(user);
      return;
    }
    this.reply(PAP_CODE.AuthenticateNak, id, admitted.message);
    this.state = 'failed';
    this.hooks.failure(name, admitted.message, true, false);
  }

  private refuse(id: number, name: string, reason: string, checked: boolean): void {
    this.tries++;
    const final = this.tries >= this.opts.maxTries;
    this.reply(PAP_CODE.AuthenticateNak, id, 'Authentication failed');
    this.state = final ? 'failed' : 'waiting';
    this.hooks.failure(name, `${reason} (try ${this.tries}/${this.opts.maxTries})`, final, checked);
  }

  complete(verdict: RemoteVerdict, _now: number): void {
    const w = this.waitingFor;
    if (this.state !== 'pending' || !w) return;
    this.waitingFor = undefined;
    if (verdict.kind === 'accept') this.accept(w.id, w.name, w.name, verdict.grant);
    else if (verdict.kind === 'reject') this.refuse(w.id, w.name, verdict.reason, true);
    else if (this.hooks.localFallback) {
      this.hooks.log(logEvent('warn', 'ppp.auth.local-fallback', { user: w.name, reason: verdict.reason }));
      this.checkLocally(w.id, w.name, w.password);
    } else this.refuse(w.id, w.name, verdict.reason, false);
  }

  peerInNetworkPhase(): void {
    if (this.state === 'success') this.deadline = undefined;
  }

  private reply(code: number, id: number, message: string): void {
    const m = Buffer.from(message.replace(/[^\x20-\x7e]/g, '?').slice(0, 255), 'ascii');
    const data = Buffer.alloc(1 + m.length);
    data[0] = m.length;
    m.copy(data, 1);
    this.answer = encodeControlFrame(PROTO.PAP, code, id, data);
    this.answeredId = id;
    this.hooks.send(this.answer);
  }
}
