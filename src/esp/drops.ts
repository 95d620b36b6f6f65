/**
 * Why an ESP packet was dropped: the counter key ("esp.in.drop.<reason>",
 * "esp.out.drop.<reason>"), a name table so the logs read well, and the
 * reporter (the core drop facility, src/core/drops.ts) that counts every drop and logs it rate-limited (at most 5 per
 * reason per 10 s from all sources together, then at most 5 per reason and
 * source address, with the number suppressed) with SPI, peer and sequence number.
 */
import type { Counters } from '../core/counters.js';
import { DropLimiter } from '../core/counters.js';
import { Drops } from '../core/drops.js';
import type { EspEvent, EspInbound, EspOutbound } from './types.js';

export type EspInDropReason =
  | 'truncated'
  | 'unknown-spi'
  | 'bad-length'
  | 'seq-zero'
  | 'replay-old'
  | 'replay-dup'
  | 'bad-icv'
  | 'bad-pad-length'
  | 'bad-padding'
  | 'dummy-packet'
  | 'not-udp'
  | 'inner-truncated'
  | 'bad-inner-length'
  | 'bad-inner-port'
  | 'not-l2tp'
  | 'not-ipv4'
  | 'bad-inner-ipv4';

export type EspOutDropReason = 'unknown-sa' | 'bad-port' | 'too-big' | 'seq-exhausted' | 'wrong-mode';

export const ESP_IN_DROP_NAMES: Record<EspInDropReason, string> = {
  truncated: 'shorter than SPI, sequence number, IV and ICV',
  'unknown-spi': 'no SA for this SPI (no reply sent)',
  'bad-length': 'ciphertext not a positive multiple of the block size',
  'seq-zero': 'sequence number 0 (RFC 4303 §3.3.3)',
  'replay-old': 'sequence number left of the anti-replay window (RFC 4303 §3.4.3)',
  'replay-dup': 'sequence number already received (RFC 4303 §3.4.3)',
  'bad-icv': 'integrity check failed (RFC 4303 §3.4.4)',
  'bad-pad-length': 'pad length larger than the payload (RFC 4303 §2.5)',
  'bad-padding': 'padding bytes not 1, 2, 3, ... (RFC 4303 §2.4)',
  'dummy-packet': 'next header 59, dummy packet (RFC 4303 §2.6)',
  'not-udp': 'next header not 17 (UDP)',
  'inner-truncated': 'inner datagram shorter than a UDP header',
  'bad-inner-length': 'inner UDP length field inconsistent',
  'bad-inner-port': 'inner UDP source port 0',
  'not-l2tp': 'inner UDP destination port not 1701',
  'not-ipv4': 'tunnel mode: next header not 4 (IPv4)',
  'bad-inner-ipv4': 'tunnel mode: inner packet not IPv4 (version, header length or total length)',
};

export const ESP_OUT_DROP_NAMES: Record<EspOutDropReason, string> = {
  'unknown-sa': 'no SA with this id',
  'bad-port': 'inner destination port not 1..65535',
  'too-big': 'inner datagram over 65535 bytes',
  'seq-exhausted': 'outbound sequence number would wrap (RFC 4303 §3.3.3): rekey',
  'wrong-mode': 'tunnel SA: payload not one whole IPv4 packet, or an L2TP head given',
};

const QUIET_IN: ReadonlySet<EspInDropReason> = new Set<EspInDropReason>(['replay-dup', 'replay-old', 'dummy-packet']);

/** ESP's use of the core drop facility (src/core/drops.ts): one limiter for both directions. */
export class DropReporter {
  private readonly in: Drops<EspInDropReason>;
  private readonly out: Drops<EspOutDropReason>;

  constructor(counters: Counters) {
    const limiter = new DropLimiter(5, 5, 10_000);
    this.in = new Drops({
      counters,
      counterPrefix: 'esp.in.drop.',
      event: 'esp.in.drop',
      reasons: ESP_IN_DROP_NAMES,
      level: (r) => (QUIET_IN.has(r) ? 'debug' : 'warn'),
      limiter,
      limitKey: 'in.',
      alwaysSuppressed: true,
    });
    this.out = new Drops({
      counters,
      counterPrefix: 'esp.out.drop.',
      event: 'esp.out.drop',
      reasons: ESP_OUT_DROP_NAMES,
      level: (r) => (r === 'seq-exhausted' ? 'error' : 'warn'),
      limiter,
      limitKey: 'out.',
      alwaysSuppressed: true,
    });
  }

  inbound(
    reason: EspInDropReason,
    pkt: EspInbound,
    saId: string | undefined,
    peerKey: string | undefined,
    seq: number,
    now: number,
    events: EspEvent[],
  ): void {
    // The fields are built only for a line the limiter lets through.
    const ev = this.in.drop(reason, now, {
      source: pkt.from.address,
      fields: () => {
        const d = pkt.data;
        const spi = d.length >= 4 ? ((d[0]! << 24) >>> 0) + ((d[1]! << 16) | (d[2]! << 8) | d[3]!) : -1;
        return {
          spi: spi >= 0 ? `0x${spi.toString(16).padStart(8, '0')}` : undefined,
          seq: seq >= 0 ? seq : undefined,
          from: `${pkt.from.address}:${pkt.from.port}`,
          saId,
          peer: peerKey,
          length: d.length,
        };
      },
    });
    if (ev) events.push(ev);
  }

  outbound(reason: EspOutDropReason, o: EspOutbound, now: number, events: EspEvent[]): void {
    const ev = this.out.drop(reason, now, { fields: { saId: o.saId, innerDstPort: o.innerDstPort } });
    if (ev) events.push(ev);
  }
}
