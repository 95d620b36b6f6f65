import { Counters, RateLimiter } from '../core/counters.js';
import { Drops, perKey } from '../core/drops.js';
import { type Cidr, formatIPv4, internetChecksum, parseCidr, parseIPv4 } from '../core/ipv4.js';
import type { LogEvent } from '../core/log.js';
import { clampTcpMss } from './mss.js';

/**
 * Forwarding between PPP sessions and the TUN device (pure, hot path).
 *
 * Uplink (client → TUN): `fromClient` checks the IPv4 header (RFC 791 §3.1),
 * that the source is the address IPCP gave this session (anti-spoofing, the
 * userspace twin of a reverse-path check), that the destination is not a
 * martian, and clamps the TCP MSS of SYNs. Downlink (TUN → client):
 * `toClient` finds the session owning the destination address and clamps the
 * MSS of SYN(-ACK)s going back. Packets are modified in place (MSS) and
 * trimmed to the IPv4 Total Length (a view, not a copy).
 *
 * Drops return a shared constant result (no allocation) with a reason from
 * DROP_REASONS, and are counted in `counters` as "drop.<reason>" (the core
 * drop facility, src/core/drops.ts; the caller asks for the log line, dropEvent).
 */

/** Every reason a packet can be dropped for, with what it means (for logs and docs). */
export const DROP_REASONS = {
  truncated: 'shorter than a minimal IPv4 header (20 bytes)',
  'not-ipv4': 'IP version is not 4',
  'bad-header-length': 'IHL below 5 or header longer than the packet',
  'bad-total-length': 'Total Length below the header length or beyond the packet',
  'bad-header-checksum': 'IPv4 header checksum does not verify (RFC 791 §3.1)',
  'unknown-session': 'no address is bound to this session',
  'spoofed-source': "source address is not the session's IPCP address",
  'martian-destination': 'destination in 0/8, 127/8, 169.254/16, 224/4, 240/4, or the pool network/broadcast',
  'tiny-fragment': 'TCP fragment at offset 1, or a first fragment cutting the TCP header (RFC 1858 §3)',
  'no-session': 'no session owns the destination address',
} as const;

export type DropReason = keyof typeof DROP_REASONS;

export type FromClientResult = { ok: true; packet: Buffer } | { ok: false; reason: DropReason };

export interface ToClientResult<K = string> {
  sessionKey: K;
  packet: Buffer;
}

export interface ForwarderOptions {
  /** The client pool (config ppp.pool): its network and broadcast addresses are martians. */
  pool: string | Cidr;
  /** Tunnel MTU (config tun.mtu); the clamp is mtu - 40 unless `mss` is given. Default 1400. */
  mtu?: number;
  /** TCP MSS ceiling for SYNs in both directions; 0 disables clamping (the kernel rules clamp). */
  mss?: number;
  /** Where drops and forwards are counted (default: a registry of its own). */
  counters?: Counters;
}

const DROPS: { readonly [R in DropReason]: { readonly ok: false; readonly reason: R } } = Object.freeze(
  Object.fromEntries(Object.keys(DROP_REASONS).map((r) => [r, Object.freeze({ ok: false, reason: r })])) as {
    [R in DropReason]: { ok: false; reason: R };
  },
);

const IPPROTO_TCP = 6;
const MF = 0x2000;
const OFFSET_MASK = 0x1fff;

/** 0/8, 127/8, 169.254/16, 224/4 (multicast), 240/4 (reserved and limited broadcast). */
export function isMartianDestination(addr: number): boolean {
  const a = addr >>> 24;
  if (a === 0 || a === 127 || a >= 224) return true;
  return a === 169 && ((addr >>> 16) & 0xff) === 254;
}

/**
 * Validates the IPv4 header and returns the Total Length, or a drop reason.
 * RFC 791 §3.1: version 4, IHL ≥ 5 words, IHL*4 ≤ Total Length ≤ bytes present.
 */
function checkHeader(p: Buffer): number | DropReason {
  const len = p.length;
  if (len < 20) return 'truncated';
  const vihl = p[0]!;
  if (vihl >>> 4 !== 4) return 'not-ipv4';
  const hlen = (vihl & 0x0f) << 2;
  if (hlen < 20 || hlen > len) return 'bad-header-length';
  const total = (p[2]! << 8) | p[3]!;
  if (total < hlen || total > len) return 'bad-total-length';
  if (internetChecksum(p, 0, hlen) !== 0) return 'bad-header-checksum';
  return total;
}

/** RFC 1858 §3 (tiny fragments); returns false when the TCP packet must be dropped. */
function tcpFragmentOk(p: Buffer, hlen: number, total: number): boolean {
  const frag = (p[6]! << 8) | p[7]!;
  const offset = frag & OFFSET_MASK;
  if (offset === 1) return false;
  if (offset === 0 && (frag & MF) !== 0 && total - hlen < 20) return false;
  return true;
}

export class Forwarder<K = string> {
  readonly counters: Counters;
  private readonly byAddress = new Map<number, K>();
  private readonly bySession = new Map<K, number>();
  private readonly poolNetwork: number;
  private readonly poolBroadcast: number;
  readonly mss: number;
  /** Counter names built once (the hot path does not build strings); lines 5 per reason per 10 s. */
  private readonly dropped: Drops<DropReason>;

  constructor(options: ForwarderOptions) {
    this.counters = options.counters ?? new Counters('nat');
    this.dropped = new Drops({
      counters: this.counters,
      counterPrefix: 'drop.',
      event: 'nat.drop',
      reasons: DROP_REASONS,
      level: 'debug',
      limiter: perKey(new RateLimiter(5, 10_000)),
      limitKey: '',
    });
    const pool = typeof options.pool === 'string' ? parseCidr(options.pool) : options.pool;
    this.poolNetwork = pool.first;
    this.poolBroadcast = pool.last;
    const mtu = options.mtu ?? 1400;
    this.mss = options.mss ?? mtu - 40;
    if (!Number.isInteger(this.mss) || this.mss < 0 || this.mss > 65535) throw new RangeError(`bad MSS ${this.mss}`);
  }

  /**
   * Binds the session's IPCP address (dotted quad or uint32). Re-binding a
   * session replaces its old address. Throws if another session owns the address.
   */
  addSession(sessionKey: K, address: string | number): void {
    const addr = typeof address === 'string' ? parseIPv4(address) : address >>> 0;
    const owner = this.byAddress.get(addr);
    if (owner !== undefined && owner !== sessionKey) {
      throw new RangeError(`address ${formatIPv4(addr)} already belongs to session ${String(owner)}`);
    }
    this.removeSession(sessionKey);
    this.byAddress.set(addr, sessionKey);
    this.bySession.set(sessionKey, addr);
  }

  removeSession(sessionKey: K): void {
    const addr = this.bySession.get(sessionKey);
    if (addr === undefined) return;
    this.bySession.delete(sessionKey);
    if (this.byAddress.get(addr) === sessionKey) this.byAddress.delete(addr);
  }

  get sessionCount(): number {
    return this.bySession.size;
  }

  /** The address bound to a session, if any. */
  addressOf(sessionKey: K): number | undefined {
    return this.bySession.get(sessionKey);
  }

  /** An IPv4 packet from a client's PPP session, on its way to the TUN. Never throws. */
  fromClient(sessionKey: K, packet: Buffer): FromClientResult {
    const total = checkHeader(packet);
    if (typeof total !== 'number') return this.drop(total);
    const addr = this.bySession.get(sessionKey);
    if (addr === undefined) return this.drop('unknown-session');
    const src = ((packet[12]! << 24) | (packet[13]! << 16) | (packet[14]! << 8) | packet[15]!) >>> 0;
    if (src !== addr) return this.drop('spoofed-source');
    const dst = ((packet[16]! << 24) | (packet[17]! << 16) | (packet[18]! << 8) | packet[19]!) >>> 0;
    if (isMartianDestination(dst) || dst === this.poolNetwork || dst === this.poolBroadcast) {
      return this.drop('martian-destination');
    }
    const p = total === packet.length ? packet : packet.subarray(0, total);
    if (p[9] === IPPROTO_TCP) {
      const hlen = (p[0]! & 0x0f) << 2;
      if (!tcpFragmentOk(p, hlen, total)) return this.drop('tiny-fragment');
      if (this.mss > 0 && clampTcpMss(p, hlen, total, this.mss)) this.counters.inc('mss.clamped');
    }
    this.counters.inc('forward.fromClient');
    return { ok: true, packet: p };
  }

  /**
   * A packet read from the TUN: the session owning its destination, or
   * undefined (counted as a drop: malformed, or 'no-session'). Never throws.
   */
  toClient(packet: Buffer): ToClientResult<K> | undefined {
    const total = checkHeader(packet);
    if (typeof total !== 'number') {
      this.dropped.count(total);
      return undefined;
    }
    const dst = ((packet[16]! << 24) | (packet[17]! << 16) | (packet[18]! << 8) | packet[19]!) >>> 0;
    const sessionKey = this.byAddress.get(dst);
    if (sessionKey === undefined) {
      this.dropped.count('no-session');
      return undefined;
    }
    const p = total === packet.length ? packet : packet.subarray(0, total);
    if (p[9] === IPPROTO_TCP) {
      const hlen = (p[0]! & 0x0f) << 2;
      if (!tcpFragmentOk(p, hlen, total)) {
        this.dropped.count('tiny-fragment');
        return undefined;
      }
      if (this.mss > 0 && clampTcpMss(p, hlen, total, this.mss)) this.counters.inc('mss.clamped');
    }
    this.counters.inc('forward.toClient');
    return { sessionKey, packet: p };
  }

  /** Number of packets dropped for a reason. */
  drops(reason: DropReason): number {
    return this.dropped.get(reason);
  }

  /**
   * A rate-limited log line for a drop (event "nat.drop"), or undefined when
   * suppressed; `suppressed` tells how many were held back before it.
   */
  dropEvent(reason: DropReason, sessionKey: string | undefined, now: number): LogEvent | undefined {
    return this.dropped.line(reason, now, sessionKey !== undefined ? { fields: { session: sessionKey } } : {});
  }

  private drop(reason: DropReason): { ok: false; reason: DropReason } {
    this.dropped.count(reason);
    return DROPS[reason];
  }
}
