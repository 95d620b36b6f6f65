import { randomBytes } from 'node:crypto';
import { Counters, RateLimiter } from '../core/counters.js';
import { logEvent, type LogLevel } from '../core/log.js';
import { endpointText, type Endpoint } from '../core/sa.js';
import { DOI_IPSEC, ExchangeType, PayloadType, ProtocolId } from './wire/constants.js';
import { encodeDelete } from './wire/delete.js';
import { encodeHash } from './wire/hash.js';
import { encodePayloadChain, type OutPayload } from './wire/message.js';
import { encodeNotify } from './wire/notify.js';
import { phase2Iv, qmHash1 } from './crypto/keys.js';
import { DEFAULT_POLICY, type ProposalPolicy } from './policy.js';
import { seal } from './seal.js';
import type { ChildSa, IkeSa } from './state.js';
import type { IkeOutput, IkeResponderConfig } from './types.js';

export const HALF_OPEN_TIMEOUT_MS = 30_000;
export const MAX_QUICK_MODES = 3;
export const DPD_RETRY_MS = 5_000;
export const DPD_TRIES = 5;
export const DEFAULT_CHILD_LIFETIME_S = 28_800; // RFC 2407 §4.5: default when no lifetime is proposed
export const MAX_USED_MESSAGE_IDS = 4096;

export const cookieKey = (ckyI: Uint8Array, ckyR: Uint8Array): string => Buffer.from(ckyI).toString('hex') + Buffer.from(ckyR).toString('hex');
export const sameEndpoint = (a: Endpoint, b: Endpoint): boolean => a.address === b.address && a.port === b.port;

/** Shared state and helpers of the responder; the exchange handlers operate on it. */
export class ResponderCore {
  readonly psk: Buffer;
  readonly cookieSecret: Buffer;
  readonly random: (n: number) => Buffer;
  readonly forceEncapsulation: boolean;
  readonly allowLegacy: boolean;
  readonly policy: ProposalPolicy;
  readonly ikeLifetimeMax: number;
  readonly childLifetimeMax: number;
  readonly dpdIdle: number;
  readonly counters: Counters;
  readonly halfOpenPerAddress: number;
  readonly halfOpenTotal: number;
  readonly localId: string | undefined;
  private readonly limiter = new RateLimiter(5, 10_000, 4096);

  /** IKE SAs by cookie pair. */
  readonly sas = new Map<string, IkeSa>();
  /** Half-open SAs by peer address:port and initiator cookie (MM1 retransmissions). */
  readonly byInitiator = new Map<string, IkeSa>();
  readonly byId = new Map<string, IkeSa>();
  readonly halfOpenByAddress = new Map<string, number>();
  halfOpen = 0;
  readonly ourSpis = new Set<number>();
  private seq = 0;
  out: IkeOutput[] = [];

  constructor(cfg: IkeResponderConfig) {
    this.psk = cfg.psk;
    this.cookieSecret = cfg.cookieSecret;
    this.random = cfg.random ?? ((n: number) => randomBytes(n));
    this.forceEncapsulation = cfg.forceEncapsulation ?? true;
    this.allowLegacy = cfg.allowLegacy ?? false;
    this.policy = cfg.policy ?? DEFAULT_POLICY;
    this.ikeLifetimeMax = cfg.ikeLifetimeMax ?? 86_400;
    this.childLifetimeMax = cfg.childLifetimeMax ?? DEFAULT_CHILD_LIFETIME_S;
    this.dpdIdle = cfg.dpdIdle ?? 30;
    this.counters = cfg.counters ?? new Counters('ike');
    this.halfOpenPerAddress = cfg.halfOpenPerAddress ?? 5;
    this.halfOpenTotal = cfg.halfOpenTotal ?? 1000;
    this.localId = cfg.localId;
  }

  nextId(prefix: string): string {
    this.seq += 1;
    return `${prefix}-${this.seq}`;
  }

  log(level: LogLevel, event: string, fields?: Record<string, unknown>): void {
    this.out.push(logEvent(level, event, fields));
  }

  /** Counts a drop by reason and emits a rate-limited log line naming the peer. */
  drop(reason: string, now: number, peer: Endpoint | undefined, fields?: Record<string, unknown>, event = 'ike.drop'): void {
    this.counters.inc(`ike.drop.${reason}`);
    const key = `${event}|${reason}|${peer?.address ?? ''}`;
    const suppressed = this.limiter.allow(key, now);
    if (suppressed < 0) return;
    this.log('warn', event, { reason, peer: peer ? endpointText(peer) : undefined, ...fields, ...(suppressed ? { suppressed } : {}) });
  }

  /** A log line about unauthenticated input, rate-limited per event and peer address. */
  logLimited(level: LogLevel, event: string, now: number, peer: Endpoint, fields?: Record<string, unknown>): void {
    const suppressed = this.limiter.allow(`${event}|${peer.address}`, now);
    if (suppressed < 0) return;
    this.log(level, event, { peer: endpointText(peer), ...fields, ...(suppressed ? { suppressed } : {}) });
  }

  send(from: Endpoint, to: Endpoint, data: Buffer): void {
    this.counters.inc('ike.tx');
    this.out.push({ type: 'send', from: { ...from }, to: { ...to }, data });
  }

  /** A fresh SPI for an inbound SA: unique, never below 256 (RFC 4303 §2.1 reserves 1-255). */
  newSpi(): number {
    for (;;) {
      const spi = this.random(4).readUInt32BE(0);
      if (spi >= 256 && !this.ourSpis.has(spi)) {
        this.ourSpis.add(spi);
        return spi;
      }
    }
  }

  /** A fresh non-zero message ID unused on this SA. */
  newMessageId(sa: IkeSa): number {
    for (;;) {
      const id = this.random(4).readUInt32BE(0);
      if (id !== 0 && !sa.usedMessageIds.has(id) && !sa.quickModes.has(id)) return id;
    }
  }

  /** Sends an Informational exchange (RFC 2409 §5.7): HASH(1) | payloads, encrypted with its own IV. */
  sendInformational(sa: IkeSa, payloads: OutPayload[]): void {
    const keys = sa.keys;
    if (!keys || sa.state !== 'ESTABLISHED') return;
    const h = sa.choice.hash.name;
    const mid = this.newMessageId(sa);
    const hashData = qmHash1(h, keys.skeyidA, mid, encodePayloadChain(payloads));
    const iv = phase2Iv(h, sa.iv, mid, sa.choice.cipher.blockSize);
    const sealed = seal(sa, ExchangeType.INFORMATIONAL, mid, iv, [{ type: PayloadType.HASH, body: encodeHash({ data: hashData }) }, ...payloads]);
    this.send(sa.local, sa.remote, sealed.data);
  }

  sendNotify(sa: IkeSa, notifyType: number, protocolId: number = ProtocolId.ISAKMP, spi?: Buffer, data: Buffer = Buffer.alloc(0)): void {
    const body = encodeNotify({ doi: DOI_IPSEC, protocolId, spi: spi ?? Buffer.concat([sa.ckyI, sa.ckyR]), notifyType, data });
    this.sendInformational(sa, [{ type: PayloadType.N, body }]);
  }

  sendDeleteChildren(sa: IkeSa, children: ChildSa[]): void {
    if (children.length === 0) return;
    const spis = children.map((c) => {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(c.ourSpi >>> 0);
      return b;
    });
    this.sendInformational(sa, [{ type: PayloadType.D, body: encodeDelete({ doi: DOI_IPSEC, protocolId: ProtocolId.IPSEC_ESP, spiSize: 4, spis }) }]);
  }

  sendDeleteIke(sa: IkeSa): void {
    const spi = Buffer.concat([sa.ckyI, sa.ckyR]);
    this.sendInformational(sa, [{ type: PayloadType.D, body: encodeDelete({ doi: DOI_IPSEC, protocolId: ProtocolId.ISAKMP, spiSize: 16, spis: [spi] }) }]);
  }

  childDown(sa: IkeSa, child: ChildSa, reason: string): void {
    sa.children.delete(child.id);
    this.ourSpis.delete(child.ourSpi);
    this.out.push({ type: 'child-sa-down', id: child.id, inboundSpi: child.ourSpi, reason });
    this.log('info', 'ike.child.down', { id: child.id, ikeSa: sa.id, peer: endpointText(sa.peer), inboundSpi: child.ourSpi, reason });
  }

  addSa(sa: IkeSa): void {
    this.sas.set(cookieKey(sa.ckyI, sa.ckyR), sa);
    this.byInitiator.set(`${endpointText(sa.peer)}:${sa.ckyI.toString('hex')}`, sa);
    this.byId.set(sa.id, sa);
    this.halfOpen += 1;
    this.halfOpenByAddress.set(sa.peer.address, (this.halfOpenByAddress.get(sa.peer.address) ?? 0) + 1);
  }

  private leaveHalfOpen(sa: IkeSa): void {
    const address = sa.origin.address;
    this.halfOpen -= 1;
    const n = (this.halfOpenByAddress.get(address) ?? 1) - 1;
    if (n <= 0) this.halfOpenByAddress.delete(address);
    else this.halfOpenByAddress.set(address, n);
    this.byInitiator.delete(`${address}:${sa.origin.port}:${sa.ckyI.toString('hex')}`);
  }

  /** Called when Main Mode completes: the SA no longer counts as half-open. */
  markEstablished(sa: IkeSa): void {
    this.leaveHalfOpen(sa);
  }

  /**
   * Removes an IKE SA. Its child SAs move to another established IKE SA of the
   * same peer endpoint and identity when there is one (Phase 1 rekey), else go down.
   */
  removeSa(sa: IkeSa, reason: string, keepChildren = true): void {
    if (!this.sas.delete(cookieKey(sa.ckyI, sa.ckyR))) return;
    this.byId.delete(sa.id);
    if (sa.state !== 'ESTABLISHED') {
      this.leaveHalfOpen(sa);
      this.log('info', 'ike.halfopen.removed', { id: sa.id, peer: endpointText(sa.peer), reason });
      return;
    }
    const heir = keepChildren ? this.findHeir(sa) : undefined;
    for (const child of [...sa.children.values()]) {
      if (heir) {
        sa.children.delete(child.id);
        child.ikeSaId = heir.id;
        heir.children.set(child.id, child);
      } else {
        this.childDown(sa, child, reason);
      }
    }
    this.out.push({ type: 'ike-sa-down', id: sa.id, peer: { ...sa.peer }, reason });
    this.log('info', 'ike.phase1.down', { id: sa.id, peer: endpointText(sa.peer), peerId: sa.peerId, reason });
  }

  /** The newest other established SA with the same peer endpoint and identity. */
  findHeir(sa: IkeSa): IkeSa | undefined {
    let best: IkeSa | undefined;
    for (const o of this.sas.values()) {
      if (o === sa || o.state !== 'ESTABLISHED' || !sameEndpoint(o.peer, sa.peer) || o.peerId !== sa.peerId) continue;
      if (!best || o.established > best.established) best = o;
    }
    return best;
  }

  /**
   * Established SAs of the same peer endpoint (where it was, or where it moved to) and
   * identity (Delete and INITIAL-CONTACT scope).
   */
  related(sa: IkeSa): IkeSa[] {
    return [...this.sas.values()].filter((o) => o.state === 'ESTABLISHED' && (sameEndpoint(o.peer, sa.peer) || sameEndpoint(o.remote, sa.peer)) && o.peerId === sa.peerId);
  }

  /**
   * An authenticated message of an established SA came from `from`: when that is not
   * where we send, the peer's NAT mapping changed; follow it (RFC 3947 §4) and tell the
   * daemon, so ESP follows too. `peer` stays the SA's identity.
   */
  followPeer(sa: IkeSa, from: Endpoint, to: Endpoint): void {
    if (sameEndpoint(from, sa.remote)) return;
    this.setRemote(sa, from, 'ike');
    sa.local = { ...to };
    this.out.push({ type: 'peer-moved', ikeSaId: sa.id, peer: { ...sa.peer }, remote: { ...sa.remote } });
  }

  /** From now on the SA's messages (DPD, Delete, notifies) go to `to`; `by` = who saw the move. */
  setRemote(sa: IkeSa, to: Endpoint, by: 'ike' | 'esp'): void {
    this.log('info', 'ike.peer.moved', { id: sa.id, peer: endpointText(sa.peer), from: endpointText(sa.remote), to: endpointText(to), by });
    sa.remote = { address: to.address, port: to.port };
  }
}
