/**
 * Why an ESP packet was dropped: the counter key ("esp.in.drop.<reason>",
 * "esp.out.drop.<reason>"), a name table so the logs read well, and the
 * reporter that counts every drop and logs it rate-limited (at most 5 per
 * reason per 10 s from all sources together, then at most 5 per reason and
 * source address, with the number suppressed) with SPI, peer and sequence number.
 */
import type { Counters } from '../core/counters.js';
import { DropLimiter } from '../core/counters.js';
import { logEvent, type LogLevel } from '../core/log.js';
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
  | 'not-l2tp';

export type EspOutDropReason = 'unknown-sa' | 'bad-port' | 'too-big' | 'seq-exhausted';

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
};

export const ESP_OUT_DROP_NAMES: Record<EspOutDropReason, string> = {
  'unknown-sa': 'no SA with this id',
  'bad-port': 'inner destination port not 1..65535',
  'too-big': 'inner datagram over 65535 bytes',
  'seq-exhausted': 'outbound sequence number would wrap (RFC 4303 §3.3.3): rekey',
};

const QUIET_IN: ReadonlySet<EspInDropReason> = new Set<EspInDropReason>(['replay-dup', 'replay-old', 'dummy-packet']);

export class DropReporter {
  private readonly limiter = new DropLimiter(5, 5, 10_000);

  constructor(private readonly counters: Counters) {}

  inbound(
    reason: EspInDropReason,
    pkt: EspInbound,
    saId: string | undefined,
    peerKey: string | undefined,
    seq: number,
    now: number,
    events: EspEvent[],
  ): void {
    this.counters.inc(`esp.in.drop.${reason}`);
    const suppressed = this.limiter.allow(`in.${reason}`, pkt.from.address, now);
    if (suppressed < 0) return;
    const d = pkt.data;
    const level: LogLevel = QUIET_IN.has(reason) ? 'debug' : 'warn';
    const spi = d.length >= 4 ? ((d[0]! << 24) >>> 0) + ((d[1]! << 16) | (d[2]! << 8) | d[3]!) : -1;
    events.push(
      logEvent(level, 'esp.in.drop', {
        reason,
        detail: ESP_IN_DROP_NAMES[reason],
        spi: spi >= 0 ? `0x${spi.toString(16).padStart(8, '0')}` : undefined,
        seq: seq >= 0 ? seq : undefined,
        from: `${pkt.from.address}:${pkt.from.port}`,
        saId,
        peer: peerKey,
        length: d.length,
        suppressed,
      }),
    );
  }

  outbound(reason: EspOutDropReason, o: EspOutbound, now: number, events: EspEvent[]): void {
    this.counters.inc(`esp.out.drop.${reason}`);
    const suppressed = this.limiter.allow(`out.${reason}`, undefined, now);
    if (suppressed < 0) return;
    events.push(
      logEvent(reason === 'seq-exhausted' ? 'error' : 'warn', 'esp.out.drop', {
        reason,
        detail: ESP_OUT_DROP_NAMES[reason],
        saId: o.saId,
        innerDstPort: o.innerDstPort,
        suppressed,
      }),
    );
  }
}
