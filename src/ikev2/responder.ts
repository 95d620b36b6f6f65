import { randomBytes, timingSafeEqual } from 'node:crypto';
import { Counters, RateLimiter } from '../core/counters.js';
import { DecodeError } from '../core/errors.js';
import { logEvent, type LogLevel } from '../core/log.js';
import { endpointText, type Endpoint } from '../core/sa.js';
import { ikeKeys } from './crypto/keys.js';
import { generateKeyPair, validKeValue } from './crypto/dh.js';
import { encodeEncryptedMessage, encodeFragments, openEncrypted, openSk, skKeys } from './crypto/sk.js';
import { FragmentReassembler } from './fragments.js';
import { authFirst, authNext, authResume, type AuthStep } from './ike-auth.js';
import type { EapRemoteVerdict } from './eap/mschapv2-server.js';
import type { NatResult } from './natd.js';
import { createChild } from './create-child.js';
import { isIkeRekey, rekeyIke } from './rekey-ike.js';
import { childRekeyAnswer, childRekeyRequest } from './rekey-child-ours.js';
import { checkCookie, makeCookie } from './cookie.js';
import { initResponse } from './init-response.js';
import { MAX_PEER_ADDRESSES, mobikeAnswer, readMobike } from './mobike.js';
import { DEFAULT_IKEV2_POLICY, selectIkeProposal, suiteLabel, type Ikev2Policy } from './policy.js';
import { ExchangeType, HashAlgorithm, HeaderFlag, NotifyType, PayloadType, ProtocolId, exchangeTypeNames, isErrorNotify, nameOf, payloadTypeNames } from './wire/constants.js';
import { decodeHeader, isInitiator, isResponse, type IkeHeader } from './wire/header.js';
import { allPayloads, decodeMessage, decodePayloadChain, encodeMessage, findPayload, type HeaderFields, type Payload, type PayloadChain } from './wire/message.js';
import { notify } from './wire/notify.js';
import type { Ikev2Child, Ikev2Output, Ikev2ResponderConfig, Ikev2Sa, OwnRequest } from './types.js';

export type { Ikev2Output, Ikev2ResponderConfig, Ikev2Sa, IkeSaInitDone, IkeSaUp, SendOutput } from './types.js';
export type { Ikev2AuthConfig } from './ike-auth.js';

export const HALF_OPEN_TIMEOUT_MS = 30_000;
/** Our requests (liveness, Delete) are sent again every 5 s, 5 times, then the peer counts as gone (strongSwan: 5 tries). */
export const RETRANSMIT_MS = 5_000;
export const RETRANSMIT_TRIES = 5;
/** A replaced IKE SA the client does not delete is dropped after this long. */
export const REKEYED_KEEP_MS = 60_000;
const ZERO_SPI = Buffer.alloc(8);
const NONCE_BYTES = 32;

const u32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
};

const u16s = (vs: number[]): Buffer => {
  const b = Buffer.alloc(vs.length * 2);
  vs.forEach((v, i) => b.writeUInt16BE(v, i * 2));
  return b;
};

/**
 * IKEv2 responder (RFC 7296), sans-I/O: datagrams and the monotonic time in,
 * outputs back. This part answers IKE_SA_INIT (§1.2): proposal choice,
 * INVALID_KE_PAYLOAD, NAT detection (§2.23), COOKIE once half-open SAs pass a
 * threshold (§2.6), IKEV2_FRAGMENTATION_SUPPORTED (RFC 7383) and
 * SIGNATURE_HASH_ALGORITHMS (RFC 7427), and keeps the keyed half-open SA for
 * IKE_AUTH. Nothing is allocated for a request before its cookie (when required)
 * and its proposal and KE value are checked; rejections carry no state.
 */
export class Ikev2Responder {
  private readonly cookieSecret: Buffer;
  private readonly random: (n: number) => Buffer;
  private readonly policy: Ikev2Policy;
  readonly counters: Counters;
  private readonly forceEncapsulation: boolean;
  private readonly cookieThreshold: number;
  private readonly halfOpenPerAddress: number;
  private readonly halfOpenTotal: number;
  private readonly fragmentation: boolean;
  private readonly signatureHashes: number[];
  private readonly limiter = new RateLimiter(5, 10_000, 4096);
  private readonly authCfg: Ikev2ResponderConfig['auth'];
  private readonly fragmentSize: number;
  private readonly ourSpis = new Set<number>();
  private readonly dpdIdleMs: number;
  private readonly childRekeyMs: number;
  private readonly mobike: boolean;
  /** Where the response to the request being handled goes (our address, the peer's), when not the SA's. */
  private replyPath: { local: Endpoint; peer: Endpoint } | undefined;

  /** IKE SAs by our SPI (hex). */
  private readonly sas = new Map<string, Ikev2Sa>();
  /** Half-open SAs by peer address:port and SPIi (IKE_SA_INIT retransmissions). */
  private readonly byInitiator = new Map<string, Ikev2Sa>();
  private readonly halfOpenByAddress = new Map<string, number>();
  private halfOpen = 0;
  private seq = 0;
  private out: Ikev2Output[] = [];

  constructor(cfg: Ikev2ResponderConfig) {
    this.cookieSecret = cfg.cookieSecret;
    this.random = cfg.random ?? ((n: number) => randomBytes(n));
    this.policy = cfg.policy ?? DEFAULT_IKEV2_POLICY;
    this.counters = cfg.counters ?? new Counters('ikev2');
    this.forceEncapsulation = cfg.forceEncapsulation ?? false;
    this.cookieThreshold = cfg.cookieThreshold ?? 10;
    this.halfOpenPerAddress = cfg.halfOpenPerAddress ?? 5;
    this.halfOpenTotal = cfg.halfOpenTotal ?? 1000;
    this.fragmentation = cfg.fragmentation ?? true;
    this.signatureHashes = cfg.signatureHashes ?? [HashAlgorithm.SHA2_256, HashAlgorithm.SHA2_384, HashAlgorithm.SHA2_512];
    this.authCfg = cfg.auth;
    this.fragmentSize = cfg.fragmentSize ?? 1280;
    this.dpdIdleMs = (cfg.dpdIdle ?? 30) * 1000;
    this.childRekeyMs = (cfg.childRekey ?? 0) * 1000;
    this.mobike = cfg.mobike ?? true;
  }

  /**
   * Ends an established IKE SA (the `disconnect` command): its children go down at
   * once, the client is sent an INFORMATIONAL Delete, retransmitted until it answers
   * or the tries run out. False when there is no such SA.
   */
  disconnect(id: string, now: number): { ok: boolean; outputs: Ikev2Output[] } {
    this.out = [];
    const sa = [...this.sas.values()].find((x) => x.id === id && x.state !== 'REKEYED');
    if (!sa) return { ok: false, outputs: [] };
    if (sa.state !== 'ESTABLISHED') {
      this.removeSa(sa, 'disconnected');
      return { ok: true, outputs: this.out };
    }
    for (const c of [...sa.children.values()]) this.childDown(sa, c, 'disconnected');
    sa.state = 'DELETING';
    sa.ownRequest = undefined;
    this.request(sa, 'delete', [{ type: PayloadType.D, value: { protocolId: ProtocolId.IKE, spiSize: 0, spis: [] } }], now);
    return { ok: true, outputs: this.out };
  }

  /** Sends one of our requests (window size 1): INFORMATIONAL, or CREATE_CHILD_SA for a rekey of ours. */
  private request(sa: Ikev2Sa, kind: OwnRequest['kind'], payloads: Payload[], now: number, extra: Pick<OwnRequest, 'rekey' | 'child' | 'cookie2'> = {}): void {
    const messageId = sa.nextOwnId;
    sa.nextOwnId = (sa.nextOwnId + 1) >>> 0;
    const exchangeType = kind === 'rekey-child' ? ExchangeType.CREATE_CHILD_SA : ExchangeType.INFORMATIONAL;
    // §3.1: the responder of the IKE SA sends requests with the I flag clear and R clear
    const datagrams = [encodeEncryptedMessage({ spiI: sa.spiI, spiR: sa.spiR, exchangeType, flags: 0, messageId }, payloads, sa.sk, sa.skOut, this.random)];
    sa.ownRequest = { kind, messageId, datagrams, sentAt: now, tries: 1, ...extra };
    this.counters.inc(`ikev2.request.${kind}`);
    for (const d of datagrams) this.send(sa.local, sa.peer, d);
  }

  /** A response to one of our requests: checked, then the request is done. */
  private ownResponse(msg: Uint8Array, h: IkeHeader, from: Endpoint, now: number): void {
    const sa = this.sas.get(h.spiR.toString('hex'));
    if (!sa || !sa.spiI.equals(h.spiI)) return this.drop('unknown-spi', now, from);
    const req = sa.ownRequest;
    const exchange = req?.kind === 'rekey-child' ? ExchangeType.CREATE_CHILD_SA : ExchangeType.INFORMATIONAL;
    if (!req || h.messageId !== req.messageId || h.exchangeType !== exchange) return this.drop('unexpected-response', now, from, { id: sa.id, messageId: h.messageId });
    const { chain } = decodeMessage(msg);
    const plain = chain.sk ? openSk(sa.sk, sa.skIn, msg, chain.sk) : undefined;
    if (!chain.sk || !plain) return this.drop('integrity', now, from, { id: sa.id });
    if (req.kind === 'check' && !this.checkAnswered(sa, req.cookie2, plain, chain.sk.firstInner, now, from)) return;
    sa.ownRequest = undefined;
    sa.lastSeen = now;
    if (req.kind === 'delete') return this.removeSa(sa, 'disconnected');
    if (req.kind === 'delete-child') {
      if (req.child && sa.children.get(req.child.ourSpi) === req.child) this.childDown(sa, req.child, 'rekeyed');
    } else if (req.kind === 'rekey-child' && req.rekey) {
      let inner: PayloadChain | undefined;
      try {
        inner = decodePayloadChain(chain.sk.firstInner, plain, 0, plain.length, false);
      } catch (e) {
        if (!(e instanceof DecodeError)) throw e;
      }
      this.ourRekeyAnswered(sa, req.rekey, inner, now);
    } else if (req.kind === 'dpd') this.counters.inc('ikev2.dpd.answered');
    this.startCheck(sa, now);
  }

  /**
   * The answer to a return routability check (RFC 4555 §3.7) must carry our COOKIE2
   * back; an authenticated answer that does not closes the IKE SA (§3.7: MUST). The
   * path counts as verified when the check was for the address the SA is at now; else
   * (the client moved again while it was out, so the answer does not tell which address
   * works) a new check follows.
   */
  private checkAnswered(sa: Ikev2Sa, cookie: Buffer | undefined, plain: Buffer, firstInner: number, now: number, from: Endpoint): boolean {
    let echoed: Buffer | undefined;
    try {
      echoed = allPayloads(decodePayloadChain(firstInner, plain, 0, plain.length, false), PayloadType.N).find((n) => n.type === NotifyType.COOKIE2)?.data;
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
    }
    if (!cookie || !echoed || echoed.length !== cookie.length || !timingSafeEqual(echoed, cookie)) {
      this.drop('cookie2-mismatch', now, from, { id: sa.id });
      sa.ownRequest = undefined;
      this.removeSa(sa, 'COOKIE2 mismatch in the answer to the return routability check');
      return false;
    }
    this.counters.inc('ikev2.mobike.check.answered');
    const pc = sa.pathCheck;
    if (pc && pc.cookie.equals(cookie)) {
      sa.pathCheck = undefined;
      this.log('info', 'ikev2.mobike.path-verified', { id: sa.id, peer: endpointText(pc.peer) });
      this.out.push({ type: 'ikev2-path-verified', id: sa.id, peer: { ...pc.peer } });
    }
    return true;
  }

  /** Sends the pending return routability check, unless one of our requests is still out (window size 1). */
  private startCheck(sa: Ikev2Sa, now: number): void {
    const pc = sa.pathCheck;
    if (!pc || sa.ownRequest || sa.state !== 'ESTABLISHED') return;
    this.counters.inc('ikev2.mobike.check.sent');
    this.request(sa, 'check', [{ type: PayloadType.N, value: notify(NotifyType.COOKIE2, pc.cookie) }], now, { cookie2: pc.cookie });
  }

  /**
   * The client answered our CREATE_CHILD_SA: the new child goes to ESP and we delete the
   * old one (§2.8). If the client rekeyed the same child meanwhile (a collision, §2.8.1),
   * ours is the redundant one: it is not installed and its Delete is sent instead. A
   * refusal leaves the old child alone, to be tried again one rekey period later.
   */
  private ourRekeyAnswered(sa: Ikev2Sa, r: NonNullable<OwnRequest['rekey']>, inner: PayloadChain | undefined, now: number): void {
    if (!this.authCfg || !inner) {
      this.ourSpis.delete(r.ourSpi);
      this.counters.inc('ikev2.child.rekey-failed');
      this.log('warn', 'ikev2.child.rekey-failed', { ikeSa: sa.id, old: r.old.id, reason: 'malformed answer' });
      r.old.created = now;
      return;
    }
    const res = childRekeyAnswer(this.authCfg, sa, r, inner);
    if (!res.ok) {
      this.ourSpis.delete(r.ourSpi);
      this.counters.inc('ikev2.child.rekey-failed');
      this.log('warn', 'ikev2.child.rekey-failed', { ikeSa: sa.id, old: r.old.id, reason: res.reason });
      r.old.created = now;
      return;
    }
    if (r.old.rekeyed || sa.children.get(r.old.ourSpi) !== r.old) {
      this.counters.inc('ikev2.child.rekey-collision');
      this.log('info', 'ikev2.child.rekey-collision', { ikeSa: sa.id, old: r.old.id, redundant: res.child.id });
      this.ourSpis.delete(r.ourSpi);
      return this.request(sa, 'delete-child', [{ type: PayloadType.D, value: { protocolId: ProtocolId.ESP, spiSize: 4, spis: [u32(r.ourSpi)] } }], now);
    }
    r.old.rekeyed = true;
    const c = res.child;
    sa.children.set(c.inbound.spi, { id: c.id, ourSpi: c.inbound.spi, peerSpi: c.outbound.spi, transform: c.transform, created: now });
    this.counters.inc('ikev2.child.rekeyed');
    this.log('info', 'ikev2.child.rekeyed', { id: c.id, ikeSa: sa.id, old: r.old.id, algorithms: c.ikeAlgorithms, by: 'server' });
    this.out.push(c);
    this.request(sa, 'delete-child', [{ type: PayloadType.D, value: { protocolId: ProtocolId.ESP, spiSize: 4, spis: [u32(r.old.ourSpi)] } }], now, { child: r.old });
  }

  /** A child of an established SA due for a rekey of ours (the client has not rekeyed it). */
  private childDue(sa: Ikev2Sa): Ikev2Child | undefined {
    if (this.childRekeyMs <= 0 || sa.state !== 'ESTABLISHED') return undefined;
    let due: Ikev2Child | undefined;
    for (const c of sa.children.values()) if (!c.rekeyed && c.created !== undefined && c.transform && (!due || c.created < due.created!)) due = c;
    return due;
  }

  private startChildRekey(sa: Ikev2Sa, old: Ikev2Child, now: number): void {
    const cfg = this.authCfg;
    const ourSpi = this.newSpi();
    const ni = this.random(NONCE_BYTES);
    const payloads = cfg ? childRekeyRequest(cfg, sa, old, ourSpi, ni) : undefined;
    if (!payloads) {
      this.ourSpis.delete(ourSpi);
      old.rekeyed = true; // nothing we could propose: left to the client
      return;
    }
    this.counters.inc('ikev2.child.rekey-started');
    this.log('info', 'ikev2.child.rekey-started', { ikeSa: sa.id, old: old.id });
    this.request(sa, 'rekey-child', payloads, now, { rekey: { old, ourSpi, ni } });
  }

  /** Number of half-open IKE SAs (status, tests). */
  get halfOpenCount(): number {
    return this.halfOpen;
  }

  /** An IKE SA by our SPI, for the exchanges that follow and for status. */
  sa(spiR: Uint8Array): Ikev2Sa | undefined {
    return this.sas.get(Buffer.from(spiR).toString('hex'));
  }

  /** msg = one IKE message (non-ESP marker already stripped); from = peer; to = our address:port. Never throws. */
  receive(msg: Uint8Array, from: Endpoint, to: Endpoint, now: number): Ikev2Output[] {
    this.out = [];
    this.replyPath = undefined;
    this.counters.inc('ikev2.rx');
    try {
      this.dispatch(msg, from, to, now);
    } catch (e) {
      if (e instanceof DecodeError) this.drop(`decode.${e.reason}`, now, from, { error: e.message }, 'ikev2.parse.dropped');
      else this.drop('internal-error', now, from, { error: e instanceof Error ? e.message : String(e) }, 'ikev2.internal.error');
    }
    this.replyPath = undefined;
    return this.out;
  }

  /** Expiry of half-open SAs, retransmission of our requests, liveness checks. Never throws. */
  tick(now: number): Ikev2Output[] {
    this.out = [];
    try {
      for (const sa of [...this.sas.values()]) {
        const req = sa.ownRequest;
        if (req) {
          if (now - req.sentAt < RETRANSMIT_MS) continue;
          if (req.tries >= RETRANSMIT_TRIES) {
            const why =
              req.kind === 'delete'
                ? 'disconnected (Delete not answered)'
                : req.kind === 'dpd'
                  ? 'peer not answering (DPD)'
                  : req.kind === 'check'
                    ? 'peer not answering at its new address (return routability check)'
                    : `peer not answering (${req.kind})`;
            this.counters.inc(req.kind === 'delete' ? 'ikev2.delete.unanswered' : req.kind === 'check' ? 'ikev2.mobike.check.failed' : 'ikev2.dpd.dead');
            this.removeSa(sa, why);
            continue;
          }
          req.tries++;
          req.sentAt = now;
          this.counters.inc('ikev2.request.retransmit');
          for (const d of req.datagrams) this.send(sa.local, sa.peer, d);
          continue;
        }
        if (sa.state === 'REKEYED') {
          if (now - (sa.rekeyedAt ?? now) >= REKEYED_KEEP_MS) this.removeSa(sa, 'rekeyed, not deleted by the peer');
        } else if (sa.state === 'INIT_DONE' || sa.state === 'AUTH') {
          if (now - sa.created >= HALF_OPEN_TIMEOUT_MS) {
            this.counters.inc('ikev2.halfopen.expired');
            this.removeSa(sa, 'half-open timeout');
          }
        } else if (sa.state === 'ESTABLISHED' && sa.pathCheck) {
          this.startCheck(sa, now);
        } else if (sa.state === 'ESTABLISHED') {
          const due = this.childDue(sa);
          if (due && now - due.created! >= this.childRekeyMs) this.startChildRekey(sa, due, now);
          else if (this.dpdIdleMs > 0 && now - sa.lastSeen >= this.dpdIdleMs) this.request(sa, 'dpd', [], now);
        }
      }
    } catch (e) {
      this.drop('internal-error', now, undefined, { error: e instanceof Error ? e.message : String(e) }, 'ikev2.internal.error');
    }
    return this.out;
  }

  /** When tick must run next (undefined: nothing pending). */
  nextDeadline(): number | undefined {
    let d: number | undefined;
    const at = (t: number): void => {
      d = Math.min(d ?? Infinity, t);
    };
    for (const sa of this.sas.values()) {
      if (sa.ownRequest) at(sa.ownRequest.sentAt + RETRANSMIT_MS);
      else if (sa.state === 'REKEYED') at((sa.rekeyedAt ?? 0) + REKEYED_KEEP_MS);
      else if (sa.state === 'INIT_DONE' || sa.state === 'AUTH') at(sa.created + HALF_OPEN_TIMEOUT_MS);
      else if (sa.state === 'ESTABLISHED' && sa.pathCheck) at(0);
      else if (sa.state === 'ESTABLISHED') {
        if (this.dpdIdleMs > 0) at(sa.lastSeen + this.dpdIdleMs);
        const due = this.childDue(sa);
        if (due) at(due.created! + this.childRekeyMs);
      }
    }
    return d;
  }

  private log(level: LogLevel, event: string, fields?: Record<string, unknown>): void {
    this.out.push(logEvent(level, event, fields));
  }

  /** Counts a drop by reason and emits a rate-limited log line naming the peer. */
  private drop(reason: string, now: number, peer: Endpoint | undefined, fields?: Record<string, unknown>, event = 'ikev2.drop'): void {
    this.counters.inc(`ikev2.drop.${reason}`);
    const suppressed = this.limiter.allow(`${event}|${reason}|${peer?.address ?? ''}`, now);
    if (suppressed < 0) return;
    this.log('warn', event, { reason, peer: peer ? endpointText(peer) : undefined, ...fields, ...(suppressed ? { suppressed } : {}) });
  }

  private send(from: Endpoint, to: Endpoint, data: Buffer): void {
    this.counters.inc('ikev2.tx');
    this.out.push({ type: 'send', from: { ...from }, to: { ...to }, data });
  }

  private dispatch(msg: Uint8Array, from: Endpoint, to: Endpoint, now: number): void {
    if (from.port === 0) return this.drop('source-port-zero', now, from);
    const h = decodeHeader(msg);
    if (!isInitiator(h)) return this.drop('not-from-initiator', now, from);
    if (isResponse(h)) {
      if (h.exchangeType === ExchangeType.IKE_SA_INIT) return this.drop('response-to-responder', now, from, { exchange: nameOf(exchangeTypeNames, h.exchangeType) });
      return this.ownResponse(msg, h, from, now);
    }
    if (h.exchangeType === ExchangeType.IKE_SA_INIT) return this.ikeSaInit(msg, h, from, to, now);
    const sa = this.sas.get(h.spiR.toString('hex'));
    if (!sa || !sa.spiI.equals(h.spiI)) return this.drop('unknown-spi', now, from, { exchange: nameOf(exchangeTypeNames, h.exchangeType) });
    return this.encrypted(sa, msg, h, from, to, now);
  }

  /**
   * A request of an existing IKE SA (§2.1-2.2): a retransmission of the last one gets
   * the cached response; otherwise only the next Message ID is taken, its SK (or its
   * SKF fragments, RFC 7383) must pass the integrity check, and only then does the
   * peer's address count (§2.23: follow an authenticated move, e.g. to port 4500).
   */
  private encrypted(sa: Ikev2Sa, msg: Uint8Array, h: IkeHeader, from: Endpoint, to: Endpoint, now: number): void {
    const last = sa.lastResponse;
    if (last && h.messageId === last.messageId && last.request.equals(msg)) {
      this.counters.inc('ikev2.retransmit');
      for (const d of last.datagrams) this.send(sa.local, sa.peer, d);
      return;
    }
    const { chain } = decodeMessage(msg);
    // RFC 7383 §2.6.1: a fragmented request's retransmission is answered on its fragment 1
    // (matched above, and then all our fragments go again); its other fragments are no news
    if (last && h.messageId === last.messageId && chain.skf && chain.skf.fragmentNumber !== 1) return this.counters.inc('ikev2.retransmit.fragment-ignored');
    if (h.messageId !== sa.nextRequestId) return this.drop('message-id', now, from, { id: sa.id, messageId: h.messageId, expected: sa.nextRequestId });
    let plain: Buffer;
    let firstInner: number;
    let request: Buffer = Buffer.from(msg);
    if (chain.sk) {
      const p = openSk(sa.sk, sa.skIn, msg, chain.sk);
      if (!p) return this.drop('integrity', now, from, { id: sa.id });
      plain = p;
      firstInner = chain.sk.firstInner;
    } else if (chain.skf) {
      if (!sa.fragmentation) return this.drop('fragment-not-negotiated', now, from, { id: sa.id });
      const skf = chain.skf;
      const p = openEncrypted(sa.sk, sa.skIn, msg.subarray(0, skf.ivOffset), skf.data);
      if (!p) return this.drop('integrity', now, from, { id: sa.id });
      if (skf.fragmentNumber === 1) sa.firstFragment = Buffer.from(msg);
      const res = sa.reassembler.add(h.messageId, skf.fragmentNumber, skf.totalFragments, skf.firstInner, p, now);
      if (res.kind === 'dropped') return this.drop(`fragment.${res.reason}`, now, from, { id: sa.id });
      if (res.kind === 'pending') return;
      plain = res.plain;
      firstInner = res.firstInner;
      request = sa.firstFragment ?? request;
    } else {
      return this.drop('not-encrypted', now, from, { id: sa.id, exchange: nameOf(exchangeTypeNames, h.exchangeType) });
    }
    const elsewhere = from.address !== sa.peer.address || from.port !== sa.peer.port || to.port !== sa.local.port || to.address !== sa.local.address;
    if (elsewhere && sa.mobike) {
      // RFC 4555 §3.5: with MOBIKE only UPDATE_SA_ADDRESSES moves the SA; the response goes where the request came from (RFC 7296 §2.11)
      this.replyPath = { local: { ...to }, peer: { ...from } };
    } else if (elsewhere) {
      this.log('info', 'ikev2.peer.moved', { id: sa.id, from: endpointText(sa.peer), to: endpointText(from), local: endpointText(to) });
      sa.peer = { ...from };
      sa.local = { ...to };
    }
    sa.lastSeen = now;
    let inner: PayloadChain;
    try {
      inner = decodePayloadChain(firstInner, plain, 0, plain.length, false);
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      this.counters.inc('ikev2.drop.inner-malformed');
      return this.answer(sa, h, request, { payloads: [{ type: PayloadType.N, value: notify(NotifyType.INVALID_SYNTAX) }], fail: `malformed inner payloads: ${e.message}` });
    }
    if (inner.unsupportedCritical !== undefined) {
      return this.answer(sa, h, request, { payloads: [{ type: PayloadType.N, value: notify(NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD, Uint8Array.of(inner.unsupportedCritical)) }] });
    }
    if (h.exchangeType === ExchangeType.IKE_AUTH && sa.state !== 'ESTABLISHED') return this.ikeAuth(sa, h, request, inner, now);
    if (h.exchangeType === ExchangeType.INFORMATIONAL && sa.state === 'ESTABLISHED') return this.informational(sa, h, request, inner, from, to, now);
    if (h.exchangeType === ExchangeType.INFORMATIONAL && sa.state === 'REKEYED') return this.informational(sa, h, request, inner, from, to, now);
    if (h.exchangeType === ExchangeType.INFORMATIONAL && sa.state === 'AUTH') return this.informationalDuringAuth(sa, h, request, inner);
    if (h.exchangeType === ExchangeType.CREATE_CHILD_SA && sa.state === 'ESTABLISHED' && isIkeRekey(inner)) return this.rekey(sa, h, request, inner, now);
    if (h.exchangeType === ExchangeType.CREATE_CHILD_SA && sa.state === 'ESTABLISHED' && this.authCfg) {
      const res = createChild(this.authCfg, sa, inner, this.random, () => this.newSpi());
      this.answer(sa, h, request, { payloads: res.payloads });
      if (res.child) {
        this.counters.inc('ikev2.child.rekeyed');
        this.log('info', 'ikev2.child.rekeyed', { id: res.child.id, ikeSa: sa.id, old: res.rekeyed?.id, algorithms: res.child.ikeAlgorithms });
        sa.children.set(res.child.inbound.spi, { id: res.child.id, ourSpi: res.child.inbound.spi, peerSpi: res.child.outbound.spi, transform: res.child.transform, created: now });
        if (res.rekeyed) res.rekeyed.rekeyed = true;
        this.out.push(res.child);
      }
      return;
    }
    return this.drop('exchange-not-handled', now, from, { id: sa.id, exchange: nameOf(exchangeTypeNames, h.exchangeType), state: sa.state });
  }

  private ikeAuth(sa: Ikev2Sa, h: IkeHeader, request: Buffer, inner: PayloadChain, now: number): void {
    const cfg = this.authCfg;
    if (!cfg) return this.answer(sa, h, request, { payloads: [{ type: PayloadType.N, value: notify(NotifyType.AUTHENTICATION_FAILED) }], fail: 'IKE_AUTH is not configured' });
    if (sa.authWaiting) {
      // the client's retransmission while RADIUS decides: asked once, answered once (by eapResult)
      this.counters.inc('ikev2.auth.retransmit-while-pending');
      return;
    }
    let step: AuthStep;
    if (!sa.auth) {
      const first = authFirst(cfg, sa, inner, this.random, now, () => this.newSpi());
      step = first.step;
      if (first.state) {
        sa.auth = first.state;
        sa.state = 'AUTH';
      }
      // RFC 4555 §3.3: the client announces MOBIKE in its first IKE_AUTH request
      if (first.state && allPayloads(inner, PayloadType.N).some((n) => n.type === NotifyType.MOBIKE_SUPPORTED)) sa.mobikeOffered = true;
    } else {
      step = authNext(cfg, sa, sa.auth, inner, () => this.newSpi());
    }
    if (step.pending) {
      sa.authWaiting = { h, request };
      return;
    }
    this.authAnswered(sa, h, request, step, now);
  }

  /**
   * The remote verifier's answer for the IKE SA `saId` (its pending EAP Response): the
   * IKE_AUTH response that request was waiting for. Nothing when the SA is gone or was
   * not waiting. Never throws.
   */
  eapResult(saId: string, verdict: EapRemoteVerdict, now: number): Ikev2Output[] {
    this.out = [];
    const sa = [...this.sas.values()].find((x) => x.id === saId && x.authWaiting !== undefined);
    const w = sa?.authWaiting;
    if (!sa || !w || !sa.auth) return [];
    sa.authWaiting = undefined;
    try {
      this.authAnswered(sa, w.h, w.request, authResume(sa.auth, verdict), now);
    } catch (e) {
      this.drop('internal-error', now, sa.peer, { error: e instanceof Error ? e.message : String(e) }, 'ikev2.internal.error');
    }
    return this.out;
  }

  private authAnswered(sa: Ikev2Sa, h: IkeHeader, request: Buffer, step: AuthStep, now: number): void {
    const up = step.established;
    if (up && !step.fail && sa.mobikeOffered && this.mobike) {
      // ... and the responder answers in the IKE_AUTH response that completes the SA
      step.payloads.push({ type: PayloadType.N, value: notify(NotifyType.MOBIKE_SUPPORTED) });
      sa.mobike = true;
    }
    this.answer(sa, h, request, step);
    if (up && !step.fail) {
      this.leaveHalfOpen(sa);
      sa.state = 'ESTABLISHED';
      sa.user = up.user;
      sa.virtualIp = up.virtualIp;
      this.counters.inc('ikev2.established');
      this.log('info', 'ikev2.established', { id: sa.id, peer: endpointText(sa.peer), user: up.user, virtualIp: up.virtualIp, child: up.child?.ikeAlgorithms, mobike: sa.mobike === true });
      this.out.push({ type: 'ikev2-sa-up', id: sa.id, peer: { ...sa.peer }, user: up.user, virtualIp: up.virtualIp, suite: suiteLabel(sa.suite) });
      if (up.child) {
        sa.children.set(up.child.inbound.spi, { id: up.child.id, ourSpi: up.child.inbound.spi, peerSpi: up.child.outbound.spi, transform: up.child.transform, created: now });
        this.out.push(up.child);
      }
    }
  }

  /**
   * INFORMATIONAL request of the client (§1.4): an empty one is a liveness check
   * and gets an empty answer; Delete of the IKE SA ends it with all its children;
   * Delete of ESP SPIs (theirs) is answered with Delete of ours for the same pairs
   * (§1.4.1); SPIs we do not know are ignored. Notifies need no answer of their own.
   */
  private informational(sa: Ikev2Sa, h: IkeHeader, request: Buffer, inner: PayloadChain, from: Endpoint, to: Endpoint, now: number): void {
    const deletes = allPayloads(inner, PayloadType.D);
    if (deletes.some((d) => d.protocolId === ProtocolId.IKE)) {
      this.counters.inc('ikev2.delete.ike');
      this.answer(sa, h, request, { payloads: [] });
      return this.removeSa(sa, sa.state === 'REKEYED' ? 'rekeyed' : 'deleted by the peer');
    }
    const ours: Buffer[] = [];
    for (const d of deletes) {
      if (d.protocolId !== ProtocolId.ESP) continue;
      for (const spi of d.spis) {
        const peerSpi = spi.readUInt32BE(0);
        const child = [...sa.children.values()].find((c) => c.peerSpi === peerSpi);
        if (!child) continue;
        ours.push(u32(child.ourSpi));
        this.childDown(sa, child, 'deleted by the peer');
      }
    }
    if (deletes.length) this.counters.inc('ikev2.delete.child');
    else this.counters.inc('ikev2.liveness');
    const payloads: Payload[] = ours.length ? [{ type: PayloadType.D, value: { protocolId: ProtocolId.ESP, spiSize: 4, spis: ours } }] : [];
    const m = readMobike(allPayloads(inner, PayloadType.N));
    const negotiated = sa.mobike === true && sa.state === 'ESTABLISHED';
    for (const r of m.malformed) this.counters.inc(`ikev2.mobike.malformed.${r}`);
    if (m.update && !negotiated) this.counters.inc('ikev2.mobike.not-negotiated');
    const d = mobikeAnswer(sa.spiI, sa.spiR, negotiated, m, from, to, this.forceEncapsulation, this.random);
    payloads.push(...d.payloads);
    if (negotiated && (m.additional || m.noAdditional)) {
      // RFC 4555 §3.6: the client's address list, replaced as a whole; we never pick a path ourselves (the initiator decides, §3.5)
      sa.peerAddresses = (m.additional ?? []).slice(0, MAX_PEER_ADDRESSES);
      this.counters.inc('ikev2.mobike.addresses');
    }
    if (d.refused) {
      this.counters.inc('ikev2.mobike.update.refused');
      this.log('warn', 'ikev2.mobike.update.refused', { id: sa.id, peer: endpointText(from), reason: d.refused });
    }
    this.answer(sa, h, request, { payloads });
    if (d.move) this.mobikeMove(sa, from, to, d.nat, now);
  }

  /**
   * UPDATE_SA_ADDRESSES (RFC 4555 §3.5), taken: the IKE SA and its children use the
   * request's path from now on. A new address is not yet proven to reach the client
   * (the update could be replayed from anywhere by whoever holds the keys... or
   * reflect bulk data at a victim), so a return routability check with COOKIE2 goes
   * there and the children hold bulk data until it is answered (bounded: the check is
   * retransmitted like DPD, and an unanswered one ends the SA).
   */
  private mobikeMove(sa: Ikev2Sa, from: Endpoint, to: Endpoint, nat: NatResult | undefined, now: number): void {
    this.counters.inc('ikev2.mobike.update');
    const old = sa.peer;
    const moved = from.address !== old.address || from.port !== old.port || to.address !== sa.local.address || to.port !== sa.local.port;
    if (nat) sa.nat = this.forceEncapsulation ? { ...nat, weBehindNat: true } : nat;
    this.log('info', 'ikev2.mobike.update', { id: sa.id, from: endpointText(old), to: endpointText(from), local: endpointText(to), moved, natPeer: nat?.peerBehindNat });
    if (!moved) return;
    sa.peer = { ...from };
    sa.local = { ...to };
    const cookie = this.random(16);
    sa.pathCheck = { cookie, peer: { ...from } };
    this.out.push({ type: 'ikev2-sa-moved', id: sa.id, from: { ...old }, peer: { ...from }, local: { ...to }, children: [...sa.children.values()].map((c) => c.id), by: 'mobike', verified: false });
    this.startCheck(sa, now);
  }

  /**
   * Authenticated ESP of one of `ikeSaId`'s children came from another endpoint (its NAT
   * mapping changed; ESP already sends there, RFC 3948 §2.2): the IKE SA follows, so its
   * DPD and Delete reach the client (strongSwan's responder does the same when the
   * kernel reports a new mapping). Returns the outputs; nothing when there is no such SA.
   */
  followPeer(ikeSaId: string, to: Endpoint): Ikev2Output[] {
    this.out = [];
    const sa = [...this.sas.values()].find((x) => x.id === ikeSaId && x.state === 'ESTABLISHED');
    if (!sa || (sa.peer.address === to.address && sa.peer.port === to.port)) return [];
    const old = sa.peer;
    sa.peer = { address: to.address, port: to.port };
    this.counters.inc('ikev2.peer.followed');
    this.log('info', 'ikev2.peer.moved', { id: sa.id, from: endpointText(old), to: endpointText(sa.peer), by: 'esp' });
    this.out.push({ type: 'ikev2-sa-moved', id: sa.id, from: { ...old }, peer: { ...sa.peer }, local: { ...sa.local }, children: [...sa.children.values()].map((c) => c.id), by: 'esp', verified: true });
    return this.out;
  }

  /**
   * INFORMATIONAL after our first IKE_AUTH response, before the IKE SA is established
   * (§2.21.2; before IKE_AUTH nothing is taken): an initiator that refuses
   * an IKE_AUTH response (strongSwan and Android after an MS-CHAPv2 Failure, which they
   * do not acknowledge) says so in an INFORMATIONAL of its own with AUTHENTICATION_FAILED
   * or another error, or deletes the IKE SA. That ends the half-open SA now (logged as a
   * failed login, with EAP's reason) instead of at the half-open timeout, where it would
   * hold one of the address's few half-open places. Anything else gets an empty answer.
   */
  private informationalDuringAuth(sa: Ikev2Sa, h: IkeHeader, request: Buffer, inner: PayloadChain): void {
    const error = allPayloads(inner, PayloadType.N).find((n) => isErrorNotify(n.type));
    const deleted = allPayloads(inner, PayloadType.D).some((d) => d.protocolId === ProtocolId.IKE);
    if (!error && !deleted) {
      this.counters.inc('ikev2.liveness');
      return this.answer(sa, h, request, { payloads: [] });
    }
    const why = error ? `client sent ${nameOf(notifyNamesLower, error.type)} during IKE_AUTH` : 'client deleted the IKE SA during IKE_AUTH';
    const eap = sa.auth?.eap.failure;
    this.answer(sa, h, request, { payloads: [], fail: eap ? `${why} after EAP: ${eap.reason}${eap.user ? ` (${eap.user})` : ''}` : why });
  }

  /**
   * IKE SA rekey by the client: a new SA under the same id takes the children,
   * user and address; the old one stays REKEYED until the client deletes it (or a
   * minute passes), and its end is nobody's business but the log's.
   */
  private rekey(sa: Ikev2Sa, h: IkeHeader, request: Buffer, inner: PayloadChain, now: number): void {
    const res = rekeyIke(this.policy, sa, inner, this.random, () => {
      let spi = this.random(8);
      while (spi.equals(ZERO_SPI) || this.sas.has(spi.toString('hex'))) spi = this.random(8);
      return spi;
    });
    this.answer(sa, h, request, { payloads: res.payloads });
    const n = res.next;
    if (!n) return;
    const next: Ikev2Sa = {
      ...sa,
      state: 'ESTABLISHED',
      spiI: n.spiI,
      spiR: n.spiR,
      created: now,
      suite: n.suite,
      keys: n.keys,
      ni: n.ni,
      nr: n.nr,
      nextRequestId: 0,
      nextOwnId: 0,
      sk: { encr: n.suite.encr, integ: n.suite.integ },
      skIn: skKeys({ encr: n.suite.encr, integ: n.suite.integ }, n.keys.skEi, n.suite.integ ? n.keys.skAi : undefined),
      skOut: skKeys({ encr: n.suite.encr, integ: n.suite.integ }, n.keys.skEr, n.suite.integ ? n.keys.skAr : undefined),
      reassembler: new FragmentReassembler(),
      children: sa.children,
      lastSeen: now,
    };
    delete next.lastResponse;
    delete next.ownRequest;
    delete next.auth;
    delete next.firstFragment;
    sa.children = new Map();
    if (sa.ownRequest?.rekey) this.ourSpis.delete(sa.ownRequest.rekey.ourSpi); // our child rekey on the old SA is moot
    sa.ownRequest = undefined; // a liveness check of the old SA is moot
    sa.state = 'REKEYED';
    sa.rekeyedAt = now;
    this.sas.set(n.spiR.toString('hex'), next);
    this.counters.inc('ikev2.ike.rekeyed');
    this.log('info', 'ikev2.ike.rekeyed', { id: sa.id, suite: suiteLabel(n.suite) });
  }

  private childDown(sa: Ikev2Sa, child: Ikev2Child, reason: string): void {
    sa.children.delete(child.ourSpi);
    this.ourSpis.delete(child.ourSpi);
    this.log('info', 'ikev2.child.down', { id: child.id, ikeSa: sa.id, inboundSpi: child.ourSpi, reason });
    this.out.push({ type: 'child-sa-down', id: child.id, inboundSpi: child.ourSpi, reason });
  }

  /** Encrypts and sends the response to request `h` (in SKF fragments when negotiated and large), caches it, then applies a failure. */
  private answer(sa: Ikev2Sa, h: IkeHeader, request: Buffer, step: AuthStep): void {
    const hdr: HeaderFields = { spiI: sa.spiI, spiR: sa.spiR, exchangeType: h.exchangeType, flags: HeaderFlag.RESPONSE, messageId: h.messageId };
    let datagrams = [encodeEncryptedMessage(hdr, step.payloads, sa.sk, sa.skOut, this.random)];
    if (sa.fragmentation && datagrams[0]!.length > this.fragmentSize) datagrams = encodeFragments(hdr, step.payloads, sa.sk, sa.skOut, this.fragmentSize, this.random);
    sa.lastResponse = { messageId: h.messageId, request, datagrams };
    sa.nextRequestId = (h.messageId + 1) >>> 0;
    const path = this.replyPath ?? { local: sa.local, peer: sa.peer };
    for (const d of datagrams) this.send(path.local, path.peer, d);
    if (step.fail) {
      this.counters.inc('ikev2.auth.failed');
      this.log('warn', 'ikev2.auth.failed', { id: sa.id, peer: endpointText(sa.peer), ...(step.user !== undefined ? { user: step.user } : {}), reason: step.fail });
      this.removeSa(sa, step.fail);
    }
  }

  /** A fresh inbound ESP SPI: unique, never below 256 (RFC 4303 §2.1). */
  private newSpi(): number {
    for (;;) {
      const spi = this.random(4).readUInt32BE(0);
      if (spi >= 256 && !this.ourSpis.has(spi)) {
        this.ourSpis.add(spi);
        return spi;
      }
    }
  }

  /** An answer without state: header with SPIr zero (§2.6, §1.2), one notify. */
  private reject(h: IkeHeader, from: Endpoint, to: Endpoint, type: number, data: Uint8Array = Buffer.alloc(0), now?: number): void {
    this.counters.inc(`ikev2.init.${nameOf(notifyNamesLower, type)}`);
    if (now !== undefined) this.log('info', 'ikev2.init.rejected', { peer: endpointText(from), notify: nameOf(notifyNamesLower, type) });
    const reply = encodeMessage({ spiI: h.spiI, spiR: ZERO_SPI, exchangeType: ExchangeType.IKE_SA_INIT, flags: HeaderFlag.RESPONSE, messageId: 0 }, [{ type: PayloadType.N, value: notify(type, data) }]);
    this.send(to, from, reply);
  }

  private ikeSaInit(msg: Uint8Array, h: IkeHeader, from: Endpoint, to: Endpoint, now: number): void {
    if (h.messageId !== 0) return this.drop('init-message-id', now, from, { messageId: h.messageId });
    if (!h.spiR.equals(ZERO_SPI)) return this.drop('init-spi-r', now, from);
    if (h.spiI.equals(ZERO_SPI)) return this.drop('init-zero-spi-i', now, from);

    const initKey = `${endpointText(from)}|${h.spiI.toString('hex')}`;
    const known = this.byInitiator.get(initKey);
    if (known) {
      if (known.initRequest.equals(msg)) {
        this.counters.inc('ikev2.init.retransmit');
        return this.send(to, from, known.initResponse);
      }
      return this.drop('init-spi-reused', now, from, { id: known.id });
    }

    const { chain } = decodeMessage(msg);
    if (chain.sk || chain.skf) return this.drop('init-encrypted', now, from);
    if (chain.unsupportedCritical !== undefined) return this.reject(h, from, to, NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD, Uint8Array.of(chain.unsupportedCritical), now);
    const saP = findPayload(chain, PayloadType.SA);
    const keP = findPayload(chain, PayloadType.KE);
    const niP = findPayload(chain, PayloadType.NONCE);
    if (!saP || !keP || !niP) return this.drop('init-missing-payload', now, from, { payloads: chain.payloads.map((p) => nameOf(payloadTypeNames, p.type)) });
    const notifies = allPayloads(chain, PayloadType.N);
    const ni = niP.value.nonce;

    if (this.halfOpen >= this.halfOpenTotal) return this.drop('half-open-limit', now, from);
    if ((this.halfOpenByAddress.get(from.address) ?? 0) >= this.halfOpenPerAddress) return this.drop('half-open-per-address', now, from);
    if (this.halfOpen >= this.cookieThreshold) {
      // §2.6: the COOKIE notify is the first payload of the retried request.
      const first = chain.payloads[0];
      const cookie = first?.type === PayloadType.N && first.value.type === NotifyType.COOKIE ? first.value.data : undefined;
      if (!cookie || !checkCookie(this.cookieSecret, now, cookie, ni, from, h.spiI)) {
        if (cookie) this.counters.inc('ikev2.init.bad-cookie');
        return this.reject(h, from, to, NotifyType.COOKIE, makeCookie(this.cookieSecret, now, ni, from, h.spiI));
      }
      this.counters.inc('ikev2.init.cookie-ok');
    }

    const choice = selectIkeProposal(saP.value, this.policy, keP.value.group);
    if (!choice) return this.reject(h, from, to, NotifyType.NO_PROPOSAL_CHOSEN, undefined, now);
    if (choice.keMismatch) return this.reject(h, from, to, NotifyType.INVALID_KE_PAYLOAD, u16s([choice.suite.dh.id]), now);
    const { suite } = choice;
    if (!validKeValue(suite.dh, keP.value.data)) return this.drop('init-bad-ke', now, from, { group: suite.dh.id, length: keP.value.data.length });

    const dh = generateKeyPair(suite.dh, this.random);
    const shared = dh.computeShared(keP.value.data);
    if (!shared) return this.drop('init-bad-ke', now, from, { group: suite.dh.id });
    let spiR = this.random(8);
    while (spiR.equals(ZERO_SPI) || this.sas.has(spiR.toString('hex'))) spiR = this.random(8);
    const nr = this.random(NONCE_BYTES);
    const keys = ikeKeys(suite, ni, nr, shared, h.spiI, spiR);

    const { payloads, nat, fragmentation, peerSignatureHashes } = initResponse({
      spiI: h.spiI, spiR, from, to, notifies, choice: choice.reply, group: suite.dh.id, publicValue: dh.publicValue, nr,
      forceEncapsulation: this.forceEncapsulation, fragmentation: this.fragmentation, signatureHashes: this.signatureHashes, random: this.random,
    });
    const reply = encodeMessage({ spiI: h.spiI, spiR, exchangeType: ExchangeType.IKE_SA_INIT, flags: HeaderFlag.RESPONSE, messageId: 0 }, payloads);

    const sa: Ikev2Sa = {
      // our SPI's first bytes make the name unique across restarts too (history keeps both)
      id: `ikev2-${++this.seq}-${spiR.subarray(0, 4).toString('hex')}`,
      state: 'INIT_DONE',
      spiI: Buffer.from(h.spiI),
      spiR,
      origin: { ...from },
      peer: { ...from },
      local: { ...to },
      created: now,
      suite,
      keys,
      ni: Buffer.from(ni),
      nr,
      initRequest: Buffer.from(msg),
      initResponse: reply,
      nat: this.forceEncapsulation && nat.supported ? { ...nat, weBehindNat: true } : nat,
      fragmentation,
      peerSignatureHashes,
      nextRequestId: 1,
      sk: { encr: suite.encr, integ: suite.integ },
      skIn: skKeys({ encr: suite.encr, integ: suite.integ }, keys.skEi, suite.integ ? keys.skAi : undefined),
      skOut: skKeys({ encr: suite.encr, integ: suite.integ }, keys.skEr, suite.integ ? keys.skAr : undefined),
      reassembler: new FragmentReassembler(),
      children: new Map(),
      lastSeen: now,
      nextOwnId: 0,
    };
    this.sas.set(spiR.toString('hex'), sa);
    this.byInitiator.set(initKey, sa);
    this.halfOpen++;
    this.halfOpenByAddress.set(from.address, (this.halfOpenByAddress.get(from.address) ?? 0) + 1);
    this.counters.inc('ikev2.init.answered');
    const label = suiteLabel(suite);
    this.log('info', 'ikev2.init.answered', { id: sa.id, peer: endpointText(from), suite: label, natPeer: nat.peerBehindNat, natUs: nat.weBehindNat, fragmentation });
    this.out.push({ type: 'ikev2-sa-init', id: sa.id, peer: { ...from }, suite: label, nat: sa.nat, fragmentation });
    this.send(to, from, reply);
  }

  /** Leaves the half-open counts (once): established or removed. */
  private leaveHalfOpen(sa: Ikev2Sa): void {
    const key = `${endpointText(sa.origin)}|${sa.spiI.toString('hex')}`;
    if (this.byInitiator.get(key) !== sa) return;
    this.byInitiator.delete(key);
    this.halfOpen--;
    const n = (this.halfOpenByAddress.get(sa.origin.address) ?? 1) - 1;
    if (n > 0) this.halfOpenByAddress.set(sa.origin.address, n);
    else this.halfOpenByAddress.delete(sa.origin.address);
  }

  private removeSa(sa: Ikev2Sa, reason: string): void {
    if (!this.sas.delete(sa.spiR.toString('hex'))) return;
    if (sa.ownRequest?.rekey) this.ourSpis.delete(sa.ownRequest.rekey.ourSpi);
    this.leaveHalfOpen(sa);
    for (const c of [...sa.children.values()]) this.childDown(sa, c, reason);
    if (sa.state === 'REKEYED') {
      this.log('info', 'ikev2.sa.old-removed', { id: sa.id, spiR: sa.spiR.toString('hex'), reason });
      return; // its successor carries the id on
    }
    this.log('info', 'ikev2.sa.gone', { id: sa.id, peer: endpointText(sa.peer), reason });
    this.out.push({ type: 'ikev2-sa-gone', id: sa.id, peer: { ...sa.peer }, reason });
  }
}

/** Notify names in lower case with dashes, for counter keys ("invalid-ke-payload"). */
const notifyNamesLower: Record<number, string> = Object.fromEntries(
  Object.entries(NotifyType).map(([k, v]) => [v, k.toLowerCase().replace(/_/g, '-')]),
);
