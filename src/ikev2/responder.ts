import { randomBytes } from 'node:crypto';
import { Counters, RateLimiter } from '../core/counters.js';
import { DecodeError } from '../core/errors.js';
import { logEvent, type LogLevel } from '../core/log.js';
import { endpointText, type Endpoint } from '../core/sa.js';
import { ikeKeys } from './crypto/keys.js';
import { generateKeyPair, validKeValue } from './crypto/dh.js';
import { checkCookie, makeCookie } from './cookie.js';
import { detectNat, natDetectionHash } from './natd.js';
import { DEFAULT_IKEV2_POLICY, selectIkeProposal, suiteLabel, type Ikev2Policy } from './policy.js';
import { ExchangeType, HashAlgorithm, HeaderFlag, NotifyType, PayloadType, exchangeTypeNames, nameOf, payloadTypeNames } from './wire/constants.js';
import { decodeHeader, isInitiator, isResponse, type IkeHeader } from './wire/header.js';
import { allPayloads, decodeMessage, encodeMessage, findPayload, type Payload } from './wire/message.js';
import { notify } from './wire/notify.js';
import type { Ikev2Output, Ikev2ResponderConfig, Ikev2Sa } from './types.js';

export type { Ikev2Output, Ikev2ResponderConfig, Ikev2Sa, IkeSaInitDone, SendOutput } from './types.js';

export const HALF_OPEN_TIMEOUT_MS = 30_000;
const ZERO_SPI = Buffer.alloc(8);
const NONCE_BYTES = 32;

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
    this.counters.inc('ikev2.rx');
    try {
      this.dispatch(msg, from, to, now);
    } catch (e) {
      if (e instanceof DecodeError) this.drop(`decode.${e.reason}`, now, from, { error: e.message }, 'ikev2.parse.dropped');
      else this.drop('internal-error', now, from, { error: e instanceof Error ? e.message : String(e) }, 'ikev2.internal.error');
    }
    return this.out;
  }

  /** Expiry of half-open SAs. Never throws. */
  tick(now: number): Ikev2Output[] {
    this.out = [];
    for (const sa of [...this.sas.values()]) {
      if (sa.state === 'INIT_DONE' && now - sa.created >= HALF_OPEN_TIMEOUT_MS) {
        this.counters.inc('ikev2.halfopen.expired');
        this.removeSa(sa, 'half-open timeout');
      }
    }
    return this.out;
  }

  /** When tick must run next (undefined: nothing pending). */
  nextDeadline(): number | undefined {
    let d: number | undefined;
    for (const sa of this.sas.values()) if (sa.state === 'INIT_DONE') d = Math.min(d ?? Infinity, sa.created + HALF_OPEN_TIMEOUT_MS);
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
    if (isResponse(h)) return this.drop('response-to-responder', now, from, { exchange: nameOf(exchangeTypeNames, h.exchangeType) });
    if (!isInitiator(h)) return this.drop('not-from-initiator', now, from);
    if (h.exchangeType === ExchangeType.IKE_SA_INIT) return this.ikeSaInit(msg, h, from, to, now);
    const sa = this.sas.get(h.spiR.toString('hex'));
    if (!sa || !sa.spiI.equals(h.spiI)) return this.drop('unknown-spi', now, from, { exchange: nameOf(exchangeTypeNames, h.exchangeType) });
    // IKE_AUTH, CREATE_CHILD_SA and INFORMATIONAL come with the next part of the responder.
    return this.drop('exchange-not-handled', now, from, { id: sa.id, exchange: nameOf(exchangeTypeNames, h.exchangeType) });
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

    const srcHashes = notifies.filter((n) => n.type === NotifyType.NAT_DETECTION_SOURCE_IP).map((n) => n.data);
    const dstHashes = notifies.filter((n) => n.type === NotifyType.NAT_DETECTION_DESTINATION_IP).map((n) => n.data);
    const nat = detectNat(h.spiI, ZERO_SPI, from, to, srcHashes, dstHashes);
    const peerFragmentation = notifies.some((n) => n.type === NotifyType.IKEV2_FRAGMENTATION_SUPPORTED);
    const shaN = notifies.find((n) => n.type === NotifyType.SIGNATURE_HASH_ALGORITHMS);
    const peerSignatureHashes: number[] = [];
    if (shaN) for (let i = 0; i + 1 < shaN.data.length; i += 2) peerSignatureHashes.push(shaN.data.readUInt16BE(i));

    const payloads: Payload[] = [
      { type: PayloadType.SA, value: { proposals: [choice.reply] } },
      { type: PayloadType.KE, value: { group: suite.dh.id, data: dh.publicValue } },
      { type: PayloadType.NONCE, value: { nonce: nr } },
    ];
    if (nat.supported) {
      // §2.23: our hashes use the response's SPIs; a forced mismatch makes the client encapsulate.
      const ourSource = this.forceEncapsulation ? this.random(20) : natDetectionHash(h.spiI, spiR, to);
      payloads.push({ type: PayloadType.N, value: notify(NotifyType.NAT_DETECTION_SOURCE_IP, ourSource) });
      payloads.push({ type: PayloadType.N, value: notify(NotifyType.NAT_DETECTION_DESTINATION_IP, natDetectionHash(h.spiI, spiR, from)) });
    }
    const fragmentation = this.fragmentation && peerFragmentation;
    if (fragmentation) payloads.push({ type: PayloadType.N, value: notify(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED) });
    if (shaN) payloads.push({ type: PayloadType.N, value: notify(NotifyType.SIGNATURE_HASH_ALGORITHMS, u16s(this.signatureHashes)) });
    const reply = encodeMessage({ spiI: h.spiI, spiR, exchangeType: ExchangeType.IKE_SA_INIT, flags: HeaderFlag.RESPONSE, messageId: 0 }, payloads);

    const sa: Ikev2Sa = {
      id: `ikev2-${++this.seq}`,
      state: 'INIT_DONE',
      spiI: Buffer.from(h.spiI),
      spiR,
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

  private removeSa(sa: Ikev2Sa, reason: string): void {
    if (!this.sas.delete(sa.spiR.toString('hex'))) return;
    this.byInitiator.delete(`${endpointText(sa.peer)}|${sa.spiI.toString('hex')}`);
    if (sa.state === 'INIT_DONE') {
      this.halfOpen--;
      const n = (this.halfOpenByAddress.get(sa.peer.address) ?? 1) - 1;
      if (n > 0) this.halfOpenByAddress.set(sa.peer.address, n);
      else this.halfOpenByAddress.delete(sa.peer.address);
    }
    this.log('info', 'ikev2.sa.gone', { id: sa.id, peer: endpointText(sa.peer), reason });
    this.out.push({ type: 'ikev2-sa-gone', id: sa.id, peer: { ...sa.peer }, reason });
  }
}

/** Notify names in lower case with dashes, for counter keys ("invalid-ke-payload"). */
const notifyNamesLower: Record<number, string> = Object.fromEntries(
  Object.entries(NotifyType).map(([k, v]) => [v, k.toLowerCase().replace(/_/g, '-')]),
);
