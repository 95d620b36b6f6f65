import { DecodeError } from '../core/errors.js';
import { endpointText, type Endpoint } from '../core/sa.js';
import { ikeKeys } from './crypto/keys.js';
import { generateKeyPair, validKeValue } from './crypto/dh.js';
import { openEncrypted, openSk, skKeys } from './crypto/sk.js';
import { FragmentReassembler } from './fragments.js';
import type { EapRemoteVerdict } from './eap/mschapv2-server.js';
import { createChild } from './create-child.js';
import { isIkeRekey } from './rekey-ike.js';
import { peerRekeysIke } from './ike-sa-rekey.js';
import { checkCookie, makeCookie } from './cookie.js';
import { initResponse } from './init-response.js';
import { eapResult, ikeAuth } from './auth-exchange.js';
import { followPeer, informational, informationalDuringAuth } from './informational.js';
import { disconnectSa, ownResponse, saDeadline, tickSa } from './own-requests.js';
import { findSa, NONCE_BYTES, notifyNamesLower, ResponderCore, ZERO_SPI } from './responder-core.js';
import { selectIkeProposal, suiteLabel } from './policy.js';
import { ExchangeType, HeaderFlag, NotifyType, PayloadType, exchangeTypeNames, nameOf, payloadTypeNames } from './wire/constants.js';
import { decodeHeader, isInitiator, isResponse, type IkeHeader } from './wire/header.js';
import { allPayloads, decodeMessage, decodePayloadChain, encodeMessage, findPayload, type PayloadChain } from './wire/message.js';
import { notify } from './wire/notify.js';
import type { Counters } from '../core/counters.js';
import type { Ikev2Output, Ikev2ResponderConfig, Ikev2Sa } from './types.js';

export type { Ikev2Output, Ikev2ResponderConfig, Ikev2Sa, IkeSaInitDone, IkeSaUp, SendOutput } from './types.js';
export type { Ikev2AuthConfig } from './ike-auth.js';
export { HALF_OPEN_TIMEOUT_MS, REKEYED_KEEP_MS, RETRANSMIT_MS, RETRANSMIT_TRIES } from './own-requests.js';

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
 * The requests of an existing SA are opened here and handed on: IKE_AUTH to
 * auth-exchange.ts, INFORMATIONAL to informational.ts, CREATE_CHILD_SA to
 * create-child.ts and rekey-ike.ts; our own requests live in own-requests.ts.
 */
export class Ikev2Responder {
  private readonly c: ResponderCore;
  readonly counters: Counters;

  constructor(cfg: Ikev2ResponderConfig) {
    this.c = new ResponderCore(cfg);
    this.counters = this.c.counters;
  }

  /**
   * Ends an established IKE SA (the `disconnect` command): its children go down at
   * once, the client is sent an INFORMATIONAL Delete, retransmitted until it answers
   * or the tries run out. False when there is no such SA.
   */
  disconnect(id: string, now: number): { ok: boolean; outputs: Ikev2Output[] } {
    this.c.out = [];
    const ok = disconnectSa(this.c, id, now);
    return { ok, outputs: ok ? this.c.out : [] };
  }

  /** Number of half-open IKE SAs (status, tests). */
  get halfOpenCount(): number {
    return this.c.halfOpen;
  }

  /** An IKE SA by our SPI, for the exchanges that follow and for status. */
  sa(spiR: Uint8Array): Ikev2Sa | undefined {
    return this.c.sas.get(Buffer.from(spiR).toString('hex'));
  }

  /** msg = one IKE message (non-ESP marker already stripped); from = peer; to = our address:port. Never throws. */
  receive(msg: Uint8Array, from: Endpoint, to: Endpoint, now: number): Ikev2Output[] {
    const c = this.c;
    c.out = [];
    c.replyPath = undefined;
    c.counters.inc('ikev2.rx');
    try {
      this.dispatch(msg, from, to, now);
    } catch (e) {
      if (e instanceof DecodeError) c.drop(`decode.${e.reason}`, now, from, { error: e.message }, 'ikev2.parse.dropped');
      else c.drop('internal-error', now, from, { error: e instanceof Error ? e.message : String(e) }, 'ikev2.internal.error');
    }
    c.replyPath = undefined;
    return c.out;
  }

  /** Expiry of half-open SAs, retransmission of our requests, liveness checks. Never throws. */
  tick(now: number): Ikev2Output[] {
    const c = this.c;
    c.out = [];
    try {
      for (const sa of [...c.sas.values()]) tickSa(c, sa, now);
    } catch (e) {
      c.drop('internal-error', now, undefined, { error: e instanceof Error ? e.message : String(e) }, 'ikev2.internal.error');
    }
    return c.out;
  }

  /** When tick must run next (undefined: nothing pending). */
  nextDeadline(): number | undefined {
    let d: number | undefined;
    for (const sa of this.c.sas.values()) {
      const t = saDeadline(this.c, sa);
      if (t !== undefined) d = Math.min(d ?? Infinity, t);
    }
    return d;
  }

  /**
   * Authenticated ESP of one of `ikeSaId`'s children came from another endpoint (its NAT
   * mapping changed; ESP already sends there, RFC 3948 §2.2): the IKE SA follows, so its
   * DPD and Delete reach the client (strongSwan's responder does the same when the
   * kernel reports a new mapping). Returns the outputs; nothing when there is no such SA.
   */
  followPeer(ikeSaId: string, to: Endpoint): Ikev2Output[] {
    return followPeer(this.c, ikeSaId, to);
  }

  /**
   * The remote verifier's answer for the IKE SA `saId` (its pending EAP Response): the
   * IKE_AUTH response that request was waiting for. Nothing when the SA is gone or was
   * not waiting. Never throws.
   */
  eapResult(saId: string, verdict: EapRemoteVerdict, now: number): Ikev2Output[] {
    return eapResult(this.c, saId, verdict, now);
  }

  private dispatch(msg: Uint8Array, from: Endpoint, to: Endpoint, now: number): void {
    const c = this.c;
    if (from.port === 0) return c.drop('source-port-zero', now, from);
    const h = decodeHeader(msg);
    // without the I flag only an SA of our rekey (we its initiator, §2.18) is addressed
    if (!isInitiator(h) && (h.exchangeType === ExchangeType.IKE_SA_INIT || !findSa(c.sas, h))) return c.drop('not-from-initiator', now, from);
    if (isResponse(h)) {
      if (h.exchangeType === ExchangeType.IKE_SA_INIT) return c.drop('response-to-responder', now, from, { exchange: nameOf(exchangeTypeNames, h.exchangeType) });
      return ownResponse(c, msg, h, from, now);
    }
    if (h.exchangeType === ExchangeType.IKE_SA_INIT) return this.ikeSaInit(msg, h, from, to, now);
    const sa = findSa(c.sas, h);
    if (!sa) return c.drop('unknown-spi', now, from, { exchange: nameOf(exchangeTypeNames, h.exchangeType) });
    return this.encrypted(sa, msg, h, from, to, now);
  }

  /**
   * A request of an existing IKE SA (§2.1-2.2): a retransmission of the last one gets
   * the cached response; otherwise only the next Message ID is taken, its SK (or its
   * SKF fragments, RFC 7383) must pass the integrity check, and only then does the
   * peer's address count (§2.23: follow an authenticated move, e.g. to port 4500).
   */
  private encrypted(sa: Ikev2Sa, msg: Uint8Array, h: IkeHeader, from: Endpoint, to: Endpoint, now: number): void {
    const c = this.c;
    const last = sa.lastResponse;
    if (last && h.messageId === last.messageId && last.request.equals(msg)) {
      c.counters.inc('ikev2.retransmit');
      for (const d of last.datagrams) c.send(sa.local, sa.peer, d);
      return;
    }
    const { chain } = decodeMessage(msg);
    // RFC 7383 §2.6.1: a fragmented request's retransmission is answered on its fragment 1
    // (matched above, and then all our fragments go again); its other fragments are no news
    if (last && h.messageId === last.messageId && chain.skf && chain.skf.fragmentNumber !== 1) return c.counters.inc('ikev2.retransmit.fragment-ignored');
    if (h.messageId !== sa.nextRequestId) return c.drop('message-id', now, from, { id: sa.id, messageId: h.messageId, expected: sa.nextRequestId });
    let plain: Buffer;
    let firstInner: number;
    let request: Buffer = Buffer.from(msg);
    if (chain.sk) {
      const p = openSk(sa.sk, sa.skIn, msg, chain.sk);
      if (!p) return c.drop('integrity', now, from, { id: sa.id });
      plain = p;
      firstInner = chain.sk.firstInner;
    } else if (chain.skf) {
      if (!sa.fragmentation) return c.drop('fragment-not-negotiated', now, from, { id: sa.id });
      const skf = chain.skf;
      const p = openEncrypted(sa.sk, sa.skIn, msg.subarray(0, skf.ivOffset), skf.data);
      if (!p) return c.drop('integrity', now, from, { id: sa.id });
      if (skf.fragmentNumber === 1) sa.firstFragment = Buffer.from(msg);
      const res = sa.reassembler.add(h.messageId, skf.fragmentNumber, skf.totalFragments, skf.firstInner, p, now);
      if (res.kind === 'dropped') return c.drop(`fragment.${res.reason}`, now, from, { id: sa.id });
      if (res.kind === 'pending') return;
      plain = res.plain;
      firstInner = res.firstInner;
      request = sa.firstFragment ?? request;
    } else {
      return c.drop('not-encrypted', now, from, { id: sa.id, exchange: nameOf(exchangeTypeNames, h.exchangeType) });
    }
    const elsewhere = from.address !== sa.peer.address || from.port !== sa.peer.port || to.port !== sa.local.port || to.address !== sa.local.address;
    if (elsewhere && sa.mobike) {
      // RFC 4555 §3.5: with MOBIKE only UPDATE_SA_ADDRESSES moves the SA; the response goes where the request came from (RFC 7296 §2.11)
      c.replyPath = { local: { ...to }, peer: { ...from } };
    } else if (elsewhere) {
      c.log('info', 'ikev2.peer.moved', { id: sa.id, from: endpointText(sa.peer), to: endpointText(from), local: endpointText(to) });
      sa.peer = { ...from };
      sa.local = { ...to };
    }
    sa.lastSeen = now;
    let inner: PayloadChain;
    try {
      inner = decodePayloadChain(firstInner, plain, 0, plain.length, false);
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      c.counters.inc('ikev2.drop.inner-malformed');
      return c.answer(sa, h, request, { payloads: [{ type: PayloadType.N, value: notify(NotifyType.INVALID_SYNTAX) }], fail: `malformed inner payloads: ${e.message}` });
    }
    if (inner.unsupportedCritical !== undefined) {
      return c.answer(sa, h, request, { payloads: [{ type: PayloadType.N, value: notify(NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD, Uint8Array.of(inner.unsupportedCritical)) }] });
    }
    if (h.exchangeType === ExchangeType.IKE_AUTH && sa.state !== 'ESTABLISHED') return ikeAuth(c, sa, h, request, inner, now);
    if (h.exchangeType === ExchangeType.INFORMATIONAL && sa.state === 'ESTABLISHED') return informational(c, sa, h, request, inner, from, to, now);
    if (h.exchangeType === ExchangeType.INFORMATIONAL && sa.state === 'REKEYED') return informational(c, sa, h, request, inner, from, to, now);
    if (h.exchangeType === ExchangeType.INFORMATIONAL && sa.state === 'AUTH') return informationalDuringAuth(c, sa, h, request, inner);
    if (h.exchangeType === ExchangeType.CREATE_CHILD_SA && sa.state === 'ESTABLISHED' && isIkeRekey(inner)) return peerRekeysIke(c, sa, h, request, inner, now);
    if (h.exchangeType === ExchangeType.CREATE_CHILD_SA && sa.state === 'ESTABLISHED' && c.authCfg) {
      const res = createChild(c.authCfg, sa, inner, c.random, () => c.newSpi());
      c.answer(sa, h, request, { payloads: res.payloads });
      if (res.child) {
        c.counters.inc('ikev2.child.rekeyed');
        c.log('info', 'ikev2.child.rekeyed', { id: res.child.id, ikeSa: sa.id, old: res.rekeyed?.id, algorithms: res.child.ikeAlgorithms });
        sa.children.set(res.child.inbound.spi, { id: res.child.id, ourSpi: res.child.inbound.spi, peerSpi: res.child.outbound.spi, transform: res.child.transform, created: now });
        if (res.rekeyed) res.rekeyed.rekeyed = true;
        c.out.push(res.child);
      }
      return;
    }
    return c.drop('exchange-not-handled', now, from, { id: sa.id, exchange: nameOf(exchangeTypeNames, h.exchangeType), state: sa.state });
  }

  /** An answer without state: header with SPIr zero (§2.6, §1.2), one notify. */
  private reject(h: IkeHeader, from: Endpoint, to: Endpoint, type: number, data: Uint8Array = Buffer.alloc(0), now?: number): void {
    const c = this.c;
    c.counters.inc(`ikev2.init.${nameOf(notifyNamesLower, type)}`);
    if (now !== undefined) c.log('info', 'ikev2.init.rejected', { peer: endpointText(from), notify: nameOf(notifyNamesLower, type) });
    const reply = encodeMessage({ spiI: h.spiI, spiR: ZERO_SPI, exchangeType: ExchangeType.IKE_SA_INIT, flags: HeaderFlag.RESPONSE, messageId: 0 }, [{ type: PayloadType.N, value: notify(type, data) }]);
    c.send(to, from, reply);
  }

  private ikeSaInit(msg: Uint8Array, h: IkeHeader, from: Endpoint, to: Endpoint, now: number): void {
    const c = this.c;
    if (h.messageId !== 0) return c.drop('init-message-id', now, from, { messageId: h.messageId });
    if (!h.spiR.equals(ZERO_SPI)) return c.drop('init-spi-r', now, from);
    if (h.spiI.equals(ZERO_SPI)) return c.drop('init-zero-spi-i', now, from);

    const initKey = `${endpointText(from)}|${h.spiI.toString('hex')}`;
    const known = c.byInitiator.get(initKey);
    if (known) {
      if (known.initRequest.equals(msg)) {
        c.counters.inc('ikev2.init.retransmit');
        return c.send(to, from, known.initResponse);
      }
      return c.drop('init-spi-reused', now, from, { id: known.id });
    }

    const { chain } = decodeMessage(msg);
    if (chain.sk || chain.skf) return c.drop('init-encrypted', now, from);
    if (chain.unsupportedCritical !== undefined) return this.reject(h, from, to, NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD, Uint8Array.of(chain.unsupportedCritical), now);
    const saP = findPayload(chain, PayloadType.SA);
    const keP = findPayload(chain, PayloadType.KE);
    const niP = findPayload(chain, PayloadType.NONCE);
    if (!saP || !keP || !niP) return c.drop('init-missing-payload', now, from, { payloads: chain.payloads.map((p) => nameOf(payloadTypeNames, p.type)) });
    const notifies = allPayloads(chain, PayloadType.N);
    const ni = niP.value.nonce;

    if (c.halfOpen >= c.halfOpenTotal) return c.drop('half-open-limit', now, from);
    if ((c.halfOpenByAddress.get(from.address) ?? 0) >= c.halfOpenPerAddress) return c.drop('half-open-per-address', now, from);
    if (c.halfOpen >= c.cookieThreshold) {
      // §2.6: the COOKIE notify is the first payload of the retried request.
      const first = chain.payloads[0];
      const cookie = first?.type === PayloadType.N && first.value.type === NotifyType.COOKIE ? first.value.data : undefined;
      if (!cookie || !checkCookie(c.cookieSecret, now, cookie, ni, from, h.spiI)) {
        if (cookie) c.counters.inc('ikev2.init.bad-cookie');
        return this.reject(h, from, to, NotifyType.COOKIE, makeCookie(c.cookieSecret, now, ni, from, h.spiI));
      }
      c.counters.inc('ikev2.init.cookie-ok');
    }

    const choice = selectIkeProposal(saP.value, c.policy, keP.value.group);
    if (!choice) return this.reject(h, from, to, NotifyType.NO_PROPOSAL_CHOSEN, undefined, now);
    if (choice.keMismatch) return this.reject(h, from, to, NotifyType.INVALID_KE_PAYLOAD, u16s([choice.suite.dh.id]), now);
    const { suite } = choice;
    if (!validKeValue(suite.dh, keP.value.data)) return c.drop('init-bad-ke', now, from, { group: suite.dh.id, length: keP.value.data.length });

    const dh = generateKeyPair(suite.dh, c.random);
    const shared = dh.computeShared(keP.value.data);
    if (!shared) return c.drop('init-bad-ke', now, from, { group: suite.dh.id });
    let spiR = c.random(8);
    while (spiR.equals(ZERO_SPI) || c.sas.has(spiR.toString('hex'))) spiR = c.random(8);
    const nr = c.random(NONCE_BYTES);
    const keys = ikeKeys(suite, ni, nr, shared, h.spiI, spiR);

    const { payloads, nat, fragmentation, peerSignatureHashes } = initResponse({
      spiI: h.spiI, spiR, from, to, notifies, choice: choice.reply, group: suite.dh.id, publicValue: dh.publicValue, nr,
      forceEncapsulation: c.forceEncapsulation, fragmentation: c.fragmentation, signatureHashes: c.signatureHashes, random: c.random,
    });
    const reply = encodeMessage({ spiI: h.spiI, spiR, exchangeType: ExchangeType.IKE_SA_INIT, flags: HeaderFlag.RESPONSE, messageId: 0 }, payloads);

    const sa: Ikev2Sa = {
      // our SPI's first bytes make the name unique across restarts too (history keeps both)
      id: `ikev2-${++c.seq}-${spiR.subarray(0, 4).toString('hex')}`,
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
      nat: c.forceEncapsulation && nat.supported ? { ...nat, weBehindNat: true } : nat,
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
    c.sas.set(spiR.toString('hex'), sa);
    c.byInitiator.set(initKey, sa);
    c.halfOpen++;
    c.halfOpenByAddress.set(from.address, (c.halfOpenByAddress.get(from.address) ?? 0) + 1);
    c.counters.inc('ikev2.init.answered');
    const label = suiteLabel(suite);
    c.log('info', 'ikev2.init.answered', { id: sa.id, peer: endpointText(from), suite: label, natPeer: nat.peerBehindNat, natUs: nat.weBehindNat, fragmentation });
    c.out.push({ type: 'ikev2-sa-init', id: sa.id, peer: { ...from }, suite: label, nat: sa.nat, fragmentation });
    c.send(to, from, reply);
  }
}
