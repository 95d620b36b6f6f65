import { DecodeError } from '../../core/errors.js';
import { eapMschapv2Msk } from '../../core/mschap/mppe.js';
import { generateAuthenticatorResponseFromHash, hashNtPasswordHash, verifyNTResponse } from '../../core/mschap/mschapv2.js';
import { decodeEap, EapCode, EapType, encodeEap, eapTypeNames, type EapPacket } from './packet.js';
import { decodeMsChap, encodeMsChap, MAX_NAME, MsChapOp, msChapOpNames } from './mschapv2-wire.js';

/**
 * The authenticator side of EAP-MSCHAPv2 (RFC 3748 with draft-kamath-pppext-eap-mschapv2),
 * sans-I/O: each EAP message from the peer gives the next one to send. In IKEv2 every
 * EAP response arrives in its own IKE_AUTH request, and retransmissions are answered by
 * the IKE layer from its cache, so this machine sees each response once and needs no
 * timer.
 *
 *   Request/Identity ─▶ Response/Identity
 *   Request/MSCHAPv2 Challenge ─▶ Response/MSCHAPv2 Response   (NT-Response checked here)
 *   Request/MSCHAPv2 Success "S=… M=…" ─▶ Response/MSCHAPv2 Success (ack)
 *   EAP-Success, with the MSK for the final IKE AUTH
 *
 * A wrong password ends with Request/MSCHAPv2 Failure "E=691 R=0 …", its ack, then
 * EAP-Failure. Only the checked NT-Response of our own Challenge can lead to the Success
 * state; anything out of order, with another Identifier or malformed ends the exchange
 * with EAP-Failure (strongSwan CVE-2015-8023 class): nothing can skip the check.
 *
 * Whose password is checked: the EAP Identity's (RFC 3748 §5.1; the session's user). The
 * MS-CHAPv2 Response's Name (RFC 2759 §4) must name the same user; either may carry a
 * `DOMAIN\` prefix, which is ignored (Windows sends `DOMAIN\user` in both when the user
 * typed it; strongSwan, Android and iOS send the identity as the Name). A Name for
 * anyone else is refused like a wrong password and never looks that other user up.
 */
export interface EapUser {
  name: string;
  ntHash: Buffer;
}

export interface EapMschapv2Hooks {
  random(n: number): Buffer;
  lookup(name: string): EapUser | undefined;
  /** Admission after a correct password (session limits); a refusal is sent as E=649. */
  admit?(name: string): { ok: true } | { ok: false; message: string };
  /**
   * Backoff after repeated failures (the daemon's one AuthFailureTracker, shared with PPP):
   * while `blockedFor` the user > 0 ms the Response gets Failure unchecked; each failed check
   * is a `failure`, a login a `success`. Keyed by the EAP identity without a DOMAIN\ prefix.
   */
  backoff?: { blockedFor(name: string): number; failure(name: string): void; success(name: string): void };
  /**
   * A remote verifier (RADIUS): the Response is handed to it and receive() answers
   * 'pending'; the verdict comes back through complete(). Nothing is checked locally
   * unless the verdict is 'unavailable' and localFallback is set.
   */
  remote?(attempt: EapRemoteAttempt): void;
  localFallback?: boolean;
}

/** The user part of `DOMAIN\user` (RFC 2759 §8.2). */
const bareName = (name: string): string => name.slice(name.lastIndexOf('\\') + 1);

/** One MS-CHAPv2 Response for a remote verifier. */
export interface EapRemoteAttempt {
  userName: string;
  /** The MS-CHAPv2-ID (MS-CHAP2-Response's Ident). */
  ident: number;
  authenticatorChallenge: Buffer;
  peerChallenge: Buffer;
  ntResponse: Buffer;
}

/** The remote verifier's answer; accept carries the MS-CHAP2-Success String and the MSK (from the MPPE keys). */
export type EapRemoteVerdict =
  | { kind: 'accept'; success: string; msk: Buffer }
  | { kind: 'reject'; reason: string }
  | { kind: 'unavailable'; reason: string };

export type EapStep =
  /** An EAP Request to carry in the IKE_AUTH response. */
  | { kind: 'send'; message: Buffer }
  /** EAP-Success to send; the final AUTH payloads are keyed with `msk` (RFC 7296 §2.16). */
  | { kind: 'success'; message: Buffer; msk: Buffer; user: string }
  /** EAP-Failure to send (then AUTHENTICATION_FAILED). */
  | { kind: 'failure'; message: Buffer; reason: string; user?: string }
  /** The exchange is over; the message is not answered by EAP. */
  | { kind: 'ignored'; reason: string }
  /** The Response went to the remote verifier: the answer comes from complete(). */
  | { kind: 'pending' };

export type EapState = 'idle' | 'identity' | 'challenge' | 'verifying' | 'success-sent' | 'failure-sent' | 'done';

/** A hash no password has, used for unknown users so both paths do the same work. */
const DUMMY_HASH = Buffer.alloc(16, 0xa5);

const printable = (b: Uint8Array): boolean => b.length > 0 && b.length <= MAX_NAME && b.every((c) => c >= 0x20 && c !== 0x7f);

export class EapMschapv2Server {
  private st: EapState = 'idle';
  private id = 0;
  private msId = 0;
  private challenge: Buffer = Buffer.alloc(0);
  private identity: string | undefined;
  private pending: { msk: Buffer; user: string } | undefined;
  private failedUser: string | undefined;
  private failReason = '';
  /** The Response handed to the remote verifier (kept for a local fallback). */
  private waiting: { name: string; identity: string; hashName: Buffer; peerChallenge: Buffer; ntResponse: Buffer } | undefined;

  constructor(
    private readonly hooks: EapMschapv2Hooks,
    private readonly serverName: string,
  ) {}

  get state(): EapState {
    return this.st;
  }

  /** The identity from EAP-Identity (or given to start), for logs. */
  get peerIdentity(): string | undefined {
    return this.identity;
  }

  /**
   * The first EAP Request: Identity, or the Challenge directly when the identity is
   * already known (IDi of IKE_AUTH).
   */
  start(identity?: string): Buffer {
    if (this.st !== 'idle') throw new Error('EAP exchange already started');
    this.id = this.hooks.random(1)[0]!;
    if (identity === undefined) {
      this.st = 'identity';
      return encodeEap({ code: EapCode.REQUEST, identifier: this.id, type: EapType.IDENTITY, data: Buffer.alloc(0) });
    }
    this.identity = identity;
    return this.sendChallenge();
  }

  private sendChallenge(): Buffer {
    this.st = 'challenge';
    this.challenge = this.hooks.random(16);
    this.msId = this.id;
    const data = encodeMsChap({ op: MsChapOp.CHALLENGE, msId: this.msId, challenge: this.challenge, name: Buffer.from(this.serverName, 'utf8') });
    return encodeEap({ code: EapCode.REQUEST, identifier: this.id, type: EapType.MSCHAPV2, data });
  }

  private next(): number {
    this.id = (this.id + 1) & 0xff;
    return this.id;
  }

  private fail(reason: string, user?: string): EapStep {
    this.st = 'done';
    this.pending = undefined;
    const step: EapStep = { kind: 'failure', message: encodeEap({ code: EapCode.FAILURE, identifier: this.id }), reason };
    if (user !== undefined) step.user = user;
    return step;
  }

  /** After an MS-CHAPv2 Failure was sent (not yet acknowledged): why, and the user named. */
  get failure(): { reason: string; user?: string } | undefined {
    if (this.st !== 'failure-sent') return undefined;
    return this.failedUser !== undefined ? { reason: this.failReason, user: this.failedUser } : { reason: this.failReason };
  }

  /** One EAP message from the peer (the body of an EAP payload). */
  receive(msg: Uint8Array): EapStep {
    if (this.st === 'verifying') return { kind: 'ignored', reason: 'EAP message while the password is being checked' };
    if (this.st === 'done' || this.st === 'idle') return { kind: 'ignored', reason: `EAP message in state ${this.st}` };
    let p: EapPacket;
    try {
      p = decodeEap(msg);
    } catch (e) {
      if (e instanceof DecodeError) return this.fail(`malformed EAP: ${e.message}`);
      throw e;
    }
    if (p.code !== EapCode.RESPONSE || !('data' in p)) return this.fail(`EAP code ${p.code} from the peer`);
    if (p.identifier !== this.id) return this.fail(`EAP identifier ${p.identifier}, expected ${this.id}`);
    if (p.type === EapType.NAK) return this.fail('peer refused EAP-MSCHAPv2 (Nak)');

    if (this.st === 'identity') {
      if (p.type !== EapType.IDENTITY) return this.fail(`EAP ${eapTypeNames[p.type] ?? p.type} instead of Identity`);
      if (!printable(p.data)) return this.fail('EAP identity empty, too long or not printable');
      this.identity = p.data.toString('utf8');
      this.next();
      return { kind: 'send', message: this.sendChallenge() };
    }

    if (p.type !== EapType.MSCHAPV2) return this.fail(`EAP ${eapTypeNames[p.type] ?? p.type} in state ${this.st}`);
    let m;
    try {
      m = decodeMsChap(p.data, false);
    } catch (e) {
      if (e instanceof DecodeError) return this.fail(`malformed MS-CHAPv2: ${e.message}`);
      throw e;
    }

    if (this.st === 'challenge') {
      if (m.op !== MsChapOp.RESPONSE || 'ack' in m) return this.fail(`MS-CHAPv2 ${msChapOpNames[m.op] ?? m.op} before the Response`);
      if (m.msId !== this.msId) return this.fail(`MS-CHAPv2-ID ${m.msId}, expected ${this.msId}`);
      const name = m.name.toString('utf8');
      // RFC 2759 §8.2: a Windows peer may prepend DOMAIN\ to its name; the hash excludes it.
      const slash = m.name.lastIndexOf(0x5c);
      const hashName = slash >= 0 ? m.name.subarray(slash + 1) : m.name;
      // the EAP Identity selects the user; the Name must be the same one
      const identity = this.identity ?? name;
      const claimed = bareName(identity);
      const backoff = this.hooks.backoff;
      const wait = backoff?.blockedFor(claimed) ?? 0;
      if (wait > 0) return this.sendFailure(this.next(), 'E=691 R=0', 'Authentication failed', claimed, `blocked for ${Math.ceil(wait / 1000)} s after repeated failures`);
      if (bareName(name) !== claimed) {
        backoff?.failure(claimed);
        return this.sendFailure(this.next(), 'E=691 R=0', 'Authentication failed', claimed, `MS-CHAPv2 name ${JSON.stringify(name)} is not the EAP identity ${JSON.stringify(identity)}`);
      }
      if (this.hooks.remote) {
        this.st = 'verifying';
        this.waiting = { name, identity, hashName: Buffer.from(hashName), peerChallenge: Buffer.from(m.peerChallenge), ntResponse: Buffer.from(m.ntResponse) };
        this.hooks.remote({ userName: name, ident: this.msId, authenticatorChallenge: Buffer.from(this.challenge), peerChallenge: Buffer.from(m.peerChallenge), ntResponse: Buffer.from(m.ntResponse) });
        return { kind: 'pending' };
      }
      return this.checkLocally(identity, hashName, m.peerChallenge, m.ntResponse);
    }

    if (this.st === 'success-sent') {
      const pending = this.pending;
      if (m.op !== MsChapOp.SUCCESS || !('ack' in m) || !pending) return this.fail(`MS-CHAPv2 ${msChapOpNames[m.op] ?? m.op} instead of the Success acknowledgement`, pending?.user);
      this.st = 'done';
      this.pending = undefined;
      return { kind: 'success', message: encodeEap({ code: EapCode.SUCCESS, identifier: this.id }), msk: pending.msk, user: pending.user };
    }

    // failure-sent: the acknowledgement (or anything else) ends with EAP-Failure
    return this.fail(this.failReason, this.failedUser);
  }

  /** The users file's verdict on the Response of the user `identity` (the EAP Identity) selects. */
  private checkLocally(identity: string, hashName: Uint8Array, peerChallenge: Uint8Array, ntResponse: Uint8Array): EapStep {
    const claimed = bareName(identity);
    const user = this.hooks.lookup(identity) ?? (identity !== claimed ? this.hooks.lookup(claimed) : undefined);
    const ntHash = user?.ntHash ?? DUMMY_HASH;
    const ok = verifyNTResponse(this.challenge, peerChallenge, hashName, ntHash, ntResponse) && user !== undefined;
    if (ok) {
      const s = generateAuthenticatorResponseFromHash(user.ntHash, ntResponse, peerChallenge, this.challenge, hashName);
      return this.succeed(user.name, `${s} M=Welcome`, eapMschapv2Msk(hashNtPasswordHash(user.ntHash), ntResponse));
    }
    this.hooks.backoff?.failure(claimed);
    // Wrong password and unknown user read the same on the wire (no user enumeration).
    return this.sendFailure(this.next(), 'E=691 R=0', 'Authentication failed', claimed, user ? 'wrong password' : 'unknown user');
  }

  /** A checked password: admission, then the MS-CHAPv2 Success Request. */
  private succeed(user: string, success: string, msk: Buffer): EapStep {
    const id = this.next();
    const admitted = this.hooks.admit?.(user) ?? { ok: true as const };
    if (!admitted.ok) return this.sendFailure(id, 'E=649 R=0', admitted.message.replace(/[^\x20-\x7e]/g, '?'), user, `not admitted: ${admitted.message}`);
    this.hooks.backoff?.success(user);
    this.pending = { msk, user };
    this.st = 'success-sent';
    const data = encodeMsChap({ op: MsChapOp.SUCCESS, msId: this.msId, message: success });
    return { kind: 'send', message: encodeEap({ code: EapCode.REQUEST, identifier: id, type: EapType.MSCHAPV2, data }) };
  }

  /**
   * The remote verifier's answer to the Response handed out: Accept sends its
   * MS-CHAP2-Success String as is and keeps its MSK; Reject is a wrong password; no answer
   * falls back to the users file when allowed. 'ignored' when nothing was waiting.
   */
  complete(v: EapRemoteVerdict): EapStep {
    const w = this.waiting;
    if (this.st !== 'verifying' || !w) return { kind: 'ignored', reason: `verdict in state ${this.st}` };
    this.waiting = undefined;
    this.st = 'challenge';
    if (v.kind === 'accept') {
      if (!/^S=[0-9A-F]{40}( M=.*)?$/s.test(v.success) || v.msk.length < 32) return this.sendFailure(this.next(), 'E=691 R=0', 'Authentication failed', bareName(w.identity), 'RADIUS accepted without a usable MS-CHAP2-Success or MPPE keys');
      return this.succeed(bareName(w.identity), v.success, v.msk);
    }
    if (v.kind === 'unavailable' && this.hooks.localFallback) return this.checkLocally(w.identity, w.hashName, w.peerChallenge, w.ntResponse);
    if (v.kind === 'reject') this.hooks.backoff?.failure(bareName(w.identity));
    return this.sendFailure(this.next(), 'E=691 R=0', 'Authentication failed', bareName(w.identity), v.reason);
  }

  /** RFC 2759 §6 Failure: "E=eeeeeeeeee R=r C=cccccccccccccccccccccccccccccccc V=vvvvvvvvvv M=<msg>". */
  private sendFailure(id: number, codes: string, text: string, user: string, reason: string): EapStep {
    this.st = 'failure-sent';
    this.failedUser = user;
    this.failReason = reason;
    const c = this.hooks.random(16).toString('hex').toUpperCase();
    const data = encodeMsChap({ op: MsChapOp.FAILURE, msId: this.msId, message: `${codes} C=${c} V=3 M=${text}` });
    return { kind: 'send', message: encodeEap({ code: EapCode.REQUEST, identifier: id, type: EapType.MSCHAPV2, data }) };
  }
}
