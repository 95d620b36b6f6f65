import { randomPooled } from '../core/random.js';
import { Counters, RateLimiter } from '../core/counters.js';
import { logEvent, type LogLevel } from '../core/log.js';
import { endpointText, freshEspSpi, type Endpoint } from '../core/sa.js';
import { encodeEncryptedMessage, encodeFragments } from './crypto/sk.js';
import type { AuthStep } from './ike-auth.js';
import { DEFAULT_IKEV2_POLICY, type Ikev2Policy } from './policy.js';
import { HashAlgorithm, HeaderFlag, NotifyType } from './wire/constants.js';
import type { IkeHeader } from './wire/header.js';
import type { HeaderFields } from './wire/message.js';
import type { Ikev2Child, Ikev2Output, Ikev2ResponderConfig, Ikev2Sa } from './types.js';

export const ZERO_SPI = Buffer.alloc(8);
export const NONCE_BYTES = 32;

export const u32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
};

/** Our SPI of an IKE SA (the key of `sas`): the responder's, or the initiator's after a rekey of ours. */
export const ourSpiHex = (sa: Ikev2Sa): string => (sa.weInitiated ? sa.spiI : sa.spiR).toString('hex');

/**
 * The IKE SA a message belongs to: with the I flag it comes from the SA's initiator and
 * our SPI is SPIr; without, we are the initiator (an SA of our rekey) and ours is SPIi.
 */
export function findSa(sas: Map<string, Ikev2Sa>, h: IkeHeader): Ikev2Sa | undefined {
  const weInitiated = (h.flags & HeaderFlag.INITIATOR) === 0;
  const sa = sas.get((weInitiated ? h.spiI : h.spiR).toString('hex'));
  if (!sa || (sa.weInitiated === true) !== weInitiated || !sa.spiI.equals(h.spiI) || !sa.spiR.equals(h.spiR)) return undefined;
  return sa;
}

/** Notify names in lower case with dashes, for counter keys ("invalid-ke-payload"). */
export const notifyNamesLower: Record<number, string> = Object.fromEntries(
  Object.entries(NotifyType).map(([k, v]) => [v, k.toLowerCase().replace(/_/g, '-')]),
);

/**
 * What the parts of the IKEv2 responder share: its settings, its IKE SAs and
 * half-open accounting, the outputs of the call in progress, and the few
 * primitives every exchange uses (send, log, drop, answer, removing an SA or a
 * child). Internal to src/ikev2: `Ikev2Responder` is the public face.
 */
export class ResponderCore {
  readonly cookieSecret: Buffer;
  readonly random: (n: number) => Buffer;
  readonly policy: Ikev2Policy;
  readonly counters: Counters;
  readonly forceEncapsulation: boolean;
  readonly cookieThreshold: number;
  readonly halfOpenPerAddress: number;
  readonly halfOpenTotal: number;
  readonly fragmentation: boolean;
  readonly signatureHashes: number[];
  readonly limiter = new RateLimiter(5, 10_000, 4096);
  readonly authCfg: Ikev2ResponderConfig['auth'];
  readonly fragmentSize: number;
  readonly ourSpis = new Set<number>();
  readonly dpdIdleMs: number;
  readonly childRekeyMs: number;
  readonly ikeRekeyMs: number;
  readonly mobike: boolean;
  /** Where the response to the request being handled goes (our address, the peer's), when not the SA's. */
  replyPath: { local: Endpoint; peer: Endpoint } | undefined;

  /** IKE SAs by our SPI (hex). */
  readonly sas = new Map<string, Ikev2Sa>();
  /** Half-open SAs by peer address:port and SPIi (IKE_SA_INIT retransmissions). */
  readonly byInitiator = new Map<string, Ikev2Sa>();
  readonly halfOpenByAddress = new Map<string, number>();
  halfOpen = 0;
  seq = 0;
  out: Ikev2Output[] = [];

  constructor(cfg: Ikev2ResponderConfig) {
    this.cookieSecret = cfg.cookieSecret;
    this.random = cfg.random ?? randomPooled;
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
    this.ikeRekeyMs = (cfg.ikeRekey ?? 0) * 1000;
    this.mobike = cfg.mobike ?? true;
  }

  log(level: LogLevel, event: string, fields?: Record<string, unknown>): void {
    this.out.push(logEvent(level, event, fields));
  }

  /** Counts a drop by reason and emits a rate-limited log line naming the peer. */
  drop(reason: string, now: number, peer: Endpoint | undefined, fields?: Record<string, unknown>, event = 'ikev2.drop'): void {
    this.counters.inc(`ikev2.drop.${reason}`);
    const suppressed = this.limiter.allow(`${event}|${reason}|${peer?.address ?? ''}`, now);
    if (suppressed < 0) return;
    this.log('warn', event, { reason, peer: peer ? endpointText(peer) : undefined, ...fields, ...(suppressed ? { suppressed } : {}) });
  }

  send(from: Endpoint, to: Endpoint, data: Buffer): void {
    this.counters.inc('ikev2.tx');
    this.out.push({ type: 'send', from: { ...from }, to: { ...to }, data });
  }

  /** A fresh inbound ESP SPI: unique, never below 256 (RFC 4303 §2.1). */
  newSpi(): number {
    return freshEspSpi(this.random, this.ourSpis);
  }

  /** A fresh IKE SPI of ours: not zero, not in use. */
  newIkeSpi(): Buffer {
    let spi = this.random(8);
    while (spi.equals(ZERO_SPI) || this.sas.has(spi.toString('hex'))) spi = this.random(8);
    return spi;
  }

  /** Encrypts and sends the response to request `h` (in SKF fragments when negotiated and large), caches it, then applies a failure. */
  answer(sa: Ikev2Sa, h: IkeHeader, request: Buffer, step: AuthStep): void {
    // §3.1: the I flag is set in messages of the IKE SA's initiator (who started its last rekey)
    const flags = HeaderFlag.RESPONSE | (sa.weInitiated ? HeaderFlag.INITIATOR : 0);
    const hdr: HeaderFields = { spiI: sa.spiI, spiR: sa.spiR, exchangeType: h.exchangeType, flags, messageId: h.messageId };
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

  childDown(sa: Ikev2Sa, child: Ikev2Child, reason: string): void {
    sa.children.delete(child.ourSpi);
    this.ourSpis.delete(child.ourSpi);
    this.log('info', 'ikev2.child.down', { id: child.id, ikeSa: sa.id, inboundSpi: child.ourSpi, reason });
    this.out.push({ type: 'child-sa-down', id: child.id, inboundSpi: child.ourSpi, reason });
  }

  /** Leaves the half-open counts (once): established or removed. */
  leaveHalfOpen(sa: Ikev2Sa): void {
    const key = `${endpointText(sa.origin)}|${sa.spiI.toString('hex')}`;
    if (this.byInitiator.get(key) !== sa) return;
    this.byInitiator.delete(key);
    this.halfOpen--;
    const n = (this.halfOpenByAddress.get(sa.origin.address) ?? 1) - 1;
    if (n > 0) this.halfOpenByAddress.set(sa.origin.address, n);
    else this.halfOpenByAddress.delete(sa.origin.address);
  }

  removeSa(sa: Ikev2Sa, reason: string): void {
    if (!this.sas.delete(ourSpiHex(sa))) return;
    if (sa.ownRequest?.rekey) this.ourSpis.delete(sa.ownRequest.rekey.ourSpi);
    this.leaveHalfOpen(sa);
    for (const c of [...sa.children.values()]) this.childDown(sa, c, reason);
    if (sa.state === 'REKEYED') {
      this.log('info', 'ikev2.sa.old-removed', { id: sa.id, spi: ourSpiHex(sa), reason });
      return; // its successor carries the id on
    }
    this.log('info', 'ikev2.sa.gone', { id: sa.id, peer: endpointText(sa.peer), reason });
    this.out.push({ type: 'ikev2-sa-gone', id: sa.id, peer: { ...sa.peer }, reason });
  }
}
