import { flat } from '../core/flat.js';
import { randomPooled } from '../core/random.js';
import { digest } from '../core/oneshot.js';
import { Counters, DropLimiter } from '../core/counters.js';
import { own } from '../core/bytes.js';
import { Drops } from '../core/drops.js';
import { logEvent, type LogLevel } from '../core/log.js';
import { endpointText, freshEspSpi, type Endpoint } from '../core/sa.js';
import { DOI_IPSEC, ExchangeType, PayloadType, ProtocolId } from './wire/constants.js';
import { encodeDelete } from './wire/delete.js';
import { encodeHash } from './wire/hash.js';
import { encodePayloadChain, type OutPayload } from './wire/message.js';
import { encodeNotify } from './wire/notify.js';
import { phase2Iv, qmHash1 } from './crypto/keys.js';
import { DEFAULT_POLICY, type ProposalPolicy } from './policy.js';
import { seal } from './seal.js';
import type { DeadlineQueue } from '../core/heap.js';
import type { ChildSa, IkeSa } from './state.js';
import type { IkeOutput, IkeResponderConfig } from './types.js';

export const HALF_OPEN_TIMEOUT_MS = 30_000;
export const MAX_QUICK_MODES = 3;
export const DPD_RETRY_MS = 5_000;
export const DPD_TRIES = 5;
export const DEFAULT_CHILD_LIFETIME_S = 28_800; // RFC 2407 §4.5: default when no lifetime is proposed
export const MAX_USED_MESSAGE_IDS = 4096;

/** Defaults of the limits (IkeResponderConfig documents each). */
export const IKE_LIMIT_DEFAULTS = {
  maxMessageSize: 10_000,
  halfOpenPerAddress: 10,
  halfOpenTotal: 1000,
  ikeSasPerAddress: 100,
  ikeSasPerIdentity: 1000,
  ikeSasTotal: 10_000,
  childSasPerIkeSa: 8,
  maxDeleteSpis: 64,
} as const;

/** What a cached reply remembers of its request: a digest, not the message (an MM1 may be 10 KB). */
export const requestDigest = (msg: Uint8Array): Buffer => digest('sha256', msg).subarray(0, 16);

/**
 * The SA table's key of a cookie pair: the 16 bytes as a one-byte-per-character string
 * (injective: both cookies are 8 bytes). One string without copying the bytes when the
 * cookies lie side by side (a message header); a concatenation otherwise.
 */
export const cookieKey = (ckyI: Uint8Array, ckyR: Uint8Array): string =>
  ckyR.buffer === ckyI.buffer && ckyR.byteOffset === ckyI.byteOffset + ckyI.byteLength
    ? latin1Of(ckyI.buffer, ckyI.byteOffset, ckyI.byteLength + ckyR.byteLength)
    : flat(latin1Of(ckyI.buffer, ckyI.byteOffset, ckyI.byteLength), latin1Of(ckyR.buffer, ckyR.byteOffset, ckyR.byteLength));
const latin1Of = (buf: ArrayBufferLike, offset: number, length: number): string => Buffer.from(buf, offset, length).toString('latin1');
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
  readonly maxMessageSize: number;
  readonly halfOpenPerAddress: number;
  readonly halfOpenTotal: number;
  readonly ikeSasPerAddress: number;
  readonly ikeSasPerIdentity: number;
  readonly ikeSasTotal: number;
  readonly childSasPerIkeSa: number;
  readonly maxDeleteSpis: number;
  readonly localId: string | undefined;
  /**
   * Drops (core drop facility): counted as ike.drop.<reason>, lines about unauthenticated
   * input limited to 20 per reason per 10 s in all, 5 per reason and address.
   */
  readonly drops: Drops;

  /** IKE SAs by cookie pair. */
  readonly sas = new Map<string, IkeSa>();
  /** Half-open SAs by peer address:port and initiator cookie (MM1 retransmissions). */
  readonly byInitiator = new Map<string, IkeSa>();
  readonly byId = new Map<string, IkeSa>();
  /** Half-open SAs, oldest first: in all and per peer address (eviction order). */
  readonly halfOpenSas = new Set<IkeSa>();
  readonly halfOpenByAddress = new Map<string, Set<IkeSa>>();
  /** Established SAs per peer address and per identity (limits). */
  readonly establishedByAddress = new Map<string, number>();
  readonly establishedByIdentity = new Map<string, number>();
  established = 0;
  /** Established SAs by the endpoint text of their `peer` and of their `remote` (related(), findHeir() without a scan). */
  private readonly establishedAt = new Map<string, Set<IkeSa>>();
  readonly ourSpis = new Set<number>();
  /** Child SAs by our inbound SPI (unique) and by the peer's SPI (chosen by peers, may repeat across them). */
  readonly childByOurSpi = new Map<number, ChildSa>();
  readonly childrenByPeerSpi = new Map<number, Set<ChildSa>>();
  private seq = 0;
  out: IkeOutput[] = [];
  /**
   * The SAs' deadlines (set by the responder); SAs whose deadlines may have moved earlier
   * during the call in progress are listed in `touched` and re-filed when it ends.
   */
  deadlines: DeadlineQueue<IkeSa> | undefined;
  readonly touched: IkeSa[] = [];
  /** The time of the call in progress (receive, tick, ...). */
  now = 0;

  constructor(cfg: IkeResponderConfig) {
    this.psk = cfg.psk;
    this.cookieSecret = cfg.cookieSecret;
    this.random = cfg.random ?? randomPooled;
    this.forceEncapsulation = cfg.forceEncapsulation ?? true;
    this.allowLegacy = cfg.allowLegacy ?? false;
    this.policy = cfg.policy ?? DEFAULT_POLICY;
    this.ikeLifetimeMax = cfg.ikeLifetimeMax ?? 86_400;
    this.childLifetimeMax = cfg.childLifetimeMax ?? DEFAULT_CHILD_LIFETIME_S;
    this.dpdIdle = cfg.dpdIdle ?? 30;
    this.counters = cfg.counters ?? new Counters('ike');
    this.drops = new Drops({ counters: this.counters, counterPrefix: 'ike.drop.', event: 'ike.drop', limiter: new DropLimiter(20, 5, 10_000, 4096) });
    const d = IKE_LIMIT_DEFAULTS;
    this.maxMessageSize = cfg.maxMessageSize ?? d.maxMessageSize;
    this.halfOpenPerAddress = Math.max(1, cfg.halfOpenPerAddress ?? d.halfOpenPerAddress);
    this.halfOpenTotal = Math.max(1, cfg.halfOpenTotal ?? d.halfOpenTotal);
    this.ikeSasPerAddress = Math.max(1, cfg.ikeSasPerAddress ?? d.ikeSasPerAddress);
    this.ikeSasPerIdentity = Math.max(1, cfg.ikeSasPerIdentity ?? d.ikeSasPerIdentity);
    this.ikeSasTotal = Math.max(1, cfg.ikeSasTotal ?? d.ikeSasTotal);
    this.childSasPerIkeSa = Math.max(1, cfg.childSasPerIkeSa ?? d.childSasPerIkeSa);
    this.maxDeleteSpis = Math.max(1, cfg.maxDeleteSpis ?? d.maxDeleteSpis);
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
  drop(reason: string, now: number, peer: Endpoint | undefined, fields?: Record<string, unknown>, event?: string): void {
    const ev = this.drops.drop(reason, now, { source: peer?.address, event, fields: () => ({ peer: peer ? endpointText(peer) : undefined, ...fields }) });
    if (ev) this.out.push(ev);
  }

  /** A log line about unauthenticated input, rate-limited per event (in all, then per peer address). */
  logLimited(level: LogLevel, event: string, now: number, peer: Endpoint | undefined, fields?: Record<string, unknown>): void {
    const suppressed = this.drops.limiter.allow(event, peer?.address, now);
    if (suppressed < 0) return;
    this.log(level, event, { ...(peer ? { peer: endpointText(peer) } : {}), ...fields, ...(suppressed ? { suppressed } : {}) });
  }

  send(from: Endpoint, to: Endpoint, data: Buffer): void {
    this.counters.inc('ike.tx');
    this.out.push({ type: 'send', from: { ...from }, to: { ...to }, data });
  }

  /** A fresh SPI for an inbound SA: unique, never below 256 (RFC 4303 §2.1 reserves 1-255). */
  newSpi(): number {
    return freshEspSpi(this.random, this.ourSpis);
  }

  /**
   * A random responder cookie (RFC 2408 §2.5.3 allows any unique value; the SA's state is
   * kept anyway): never zero, never a pair already in the table, so a replayed or
   * duplicated MM1 can never land on an existing SA.
   */
  newResponderCookie(ckyI: Uint8Array): Buffer | undefined {
    for (let tries = 0; tries < 16; tries++) {
      const c = own(this.random(8));
      if (c.length === 8 && !c.every((b) => b === 0) && !this.sas.has(cookieKey(ckyI, c))) return c;
    }
    return undefined; // only a broken random source gets here
  }

  /** A fresh non-zero message ID unused on this SA. */
  newMessageId(sa: IkeSa): number {
    for (;;) {
      const id = this.random(4).readUInt32BE(0);
      if (id !== 0 && !sa.usedMessageIds.has(id) && !sa.quickModes.has(id)) return id;
    }
  }

  /** Records a message ID the peer used (Quick Mode, Informational): a message reusing it is a replay. */
  useMessageId(sa: IkeSa, mid: number): void {
    sa.usedMessageIds.add(mid);
    if (sa.usedMessageIds.size > MAX_USED_MESSAGE_IDS) {
      const first = sa.usedMessageIds.values().next().value;
      if (first !== undefined) sa.usedMessageIds.delete(first);
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

  /** Adds a child SA to its IKE SA and the SPI indexes. */
  addChild(sa: IkeSa, child: ChildSa): void {
    sa.children.set(child.id, child);
    this.childByOurSpi.set(child.ourSpi, child);
    let set = this.childrenByPeerSpi.get(child.peerSpi);
    if (!set) this.childrenByPeerSpi.set(child.peerSpi, (set = new Set()));
    set.add(child);
  }

  childDown(sa: IkeSa, child: ChildSa, reason: string): void {
    sa.children.delete(child.id);
    this.ourSpis.delete(child.ourSpi);
    if (this.childByOurSpi.get(child.ourSpi) === child) this.childByOurSpi.delete(child.ourSpi);
    const set = this.childrenByPeerSpi.get(child.peerSpi);
    if (set) {
      set.delete(child);
      if (set.size === 0) this.childrenByPeerSpi.delete(child.peerSpi);
    }
    this.out.push({ type: 'child-sa-down', id: child.id, inboundSpi: child.ourSpi, reason });
    this.log('info', 'ike.child.down', { id: child.id, ikeSa: sa.id, peer: endpointText(sa.peer), inboundSpi: child.ourSpi, reason });
  }

  get halfOpen(): number {
    return this.halfOpenSas.size;
  }

  /**
   * Makes room for one more half-open SA from `address`: when its address or the whole
   * table is at the limit, the oldest half-open SA goes (per address first, then in
   * all), one that has not answered MM2 before one that has (MM3 proved its address).
   * Spoofed MM1s then push out each other rather than lock real clients out.
   */
  makeHalfOpenRoom(address: string, now: number): void {
    const mine = this.halfOpenByAddress.get(address);
    if (mine && mine.size >= this.halfOpenPerAddress) this.evictHalfOpen(mine, 'per-address', now);
    if (this.halfOpenSas.size >= this.halfOpenTotal) this.evictHalfOpen(this.halfOpenSas, 'total', now);
  }

  private evictHalfOpen(set: Set<IkeSa>, which: 'per-address' | 'total', now: number): void {
    let victim: IkeSa | undefined;
    for (const sa of set) {
      victim ??= sa;
      if (sa.state === 'MM2_SENT') {
        victim = sa;
        break;
      }
    }
    if (!victim) return;
    this.counters.inc(`ike.halfopen.evicted.${which}`);
    this.logLimited('warn', `ike.halfopen.evicted`, now, victim.origin, { id: victim.id, limit: which });
    this.removeSa(victim, `evicted (${which} half-open limit)`);
  }

  /** Adds a new half-open SA; false (nothing changed) when its cookie pair is taken. */
  addSa(sa: IkeSa): boolean {
    const key = cookieKey(sa.ckyI, sa.ckyR);
    if (this.sas.has(key)) return false;
    this.sas.set(key, sa);
    this.byInitiator.set(`${endpointText(sa.origin)}:${sa.ckyI.toString('hex')}`, sa);
    this.byId.set(sa.id, sa);
    this.touched.push(sa);
    this.halfOpenSas.add(sa);
    let set = this.halfOpenByAddress.get(sa.origin.address);
    if (!set) this.halfOpenByAddress.set(sa.origin.address, (set = new Set()));
    set.add(sa);
    return true;
  }

  private leaveHalfOpen(sa: IkeSa): void {
    const address = sa.origin.address;
    this.halfOpenSas.delete(sa);
    const set = this.halfOpenByAddress.get(address);
    if (set) {
      set.delete(sa);
      if (set.size === 0) this.halfOpenByAddress.delete(address);
    }
    const k = `${address}:${sa.origin.port}:${sa.ckyI.toString('hex')}`;
    if (this.byInitiator.get(k) === sa) this.byInitiator.delete(k);
  }

  /**
   * Which limit on established SAs one more SA of this address and identity would pass,
   * if any (ikeSasPerAddress, ikeSasPerIdentity, ikeSasTotal).
   */
  establishedLimit(address: string, identity: string): 'per-address' | 'per-identity' | 'total' | undefined {
    if ((this.establishedByAddress.get(address) ?? 0) >= this.ikeSasPerAddress) return 'per-address';
    if ((this.establishedByIdentity.get(identity) ?? 0) >= this.ikeSasPerIdentity) return 'per-identity';
    if (this.established >= this.ikeSasTotal) return 'total';
    return undefined;
  }

  /** Called when Main Mode completes: the SA no longer counts as half-open, it counts as established. */
  markEstablished(sa: IkeSa): void {
    this.touched.push(sa);
    this.leaveHalfOpen(sa);
    this.established += 1;
    this.indexAt(endpointText(sa.peer), sa);
    this.indexAt(endpointText(sa.remote), sa);
    this.establishedByAddress.set(sa.peer.address, (this.establishedByAddress.get(sa.peer.address) ?? 0) + 1);
    this.establishedByIdentity.set(sa.peerId, (this.establishedByIdentity.get(sa.peerId) ?? 0) + 1);
  }

  private indexAt(key: string, sa: IkeSa): void {
    let set = this.establishedAt.get(key);
    if (!set) this.establishedAt.set(key, (set = new Set()));
    set.add(sa);
  }

  private unindexAt(key: string, sa: IkeSa): void {
    const set = this.establishedAt.get(key);
    if (!set) return;
    // the same key may stand for both peer and remote: keep it while either still matches
    if (endpointText(sa.peer) === key && sa.state === 'ESTABLISHED' && this.byId.get(sa.id) === sa) return;
    set.delete(sa);
    if (set.size === 0) this.establishedAt.delete(key);
  }

  /** Established SAs whose peer or remote is `ep` (a superset of what the callers filter). */
  private establishedWith(ep: Endpoint): Iterable<IkeSa> {
    return this.establishedAt.get(endpointText(ep)) ?? [];
  }

  private leaveEstablished(sa: IkeSa): void {
    this.established -= 1;
    const peer = endpointText(sa.peer);
    const remote = endpointText(sa.remote);
    for (const key of [peer, remote]) {
      const set = this.establishedAt.get(key);
      if (!set) continue;
      set.delete(sa);
      if (set.size === 0) this.establishedAt.delete(key);
    }
    const dec = (m: Map<string, number>, k: string): void => {
      const n = (m.get(k) ?? 1) - 1;
      if (n <= 0) m.delete(k);
      else m.set(k, n);
    };
    dec(this.establishedByAddress, sa.peer.address);
    dec(this.establishedByIdentity, sa.peerId);
  }

  /**
   * Removes an IKE SA. Its child SAs move to another established IKE SA of the
   * same peer endpoint and identity when there is one (Phase 1 rekey), else go down.
   */
  removeSa(sa: IkeSa, reason: string, keepChildren = true): void {
    if (!this.sas.delete(cookieKey(sa.ckyI, sa.ckyR))) return;
    this.byId.delete(sa.id);
    this.deadlines?.forget(sa);
    if (sa.state !== 'ESTABLISHED') {
      this.leaveHalfOpen(sa);
      // Anyone can create half-open SAs: their removal is logged at a limited rate.
      this.logLimited('info', 'ike.halfopen.removed', this.now, undefined, { id: sa.id, peer: endpointText(sa.peer), reason });
      return;
    }
    this.leaveEstablished(sa);
    const heir = keepChildren ? this.findHeir(sa) : undefined;
    for (const child of [...sa.children.values()]) {
      if (heir) {
        sa.children.delete(child.id);
        child.ikeSaId = heir.id;
        heir.children.set(child.id, child);
        this.touched.push(heir);
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
    for (const o of this.establishedWith(sa.peer)) {
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
    const res: IkeSa[] = [];
    for (const o of this.establishedWith(sa.peer)) {
      if (o.state === 'ESTABLISHED' && (sameEndpoint(o.peer, sa.peer) || sameEndpoint(o.remote, sa.peer)) && o.peerId === sa.peerId) res.push(o);
    }
    return res;
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
    const established = this.byId.get(sa.id) === sa && sa.state === 'ESTABLISHED' && !this.halfOpenSas.has(sa);
    if (established) this.unindexAt(endpointText(sa.remote), sa);
    sa.remote = { address: to.address, port: to.port };
    if (established) this.indexAt(endpointText(sa.remote), sa);
  }
}
