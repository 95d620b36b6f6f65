/**
 * RFC 3948 §2 UDP encapsulation: what a datagram on UDP port 4500 is.
 *
 *   0xFF (one byte)            NAT-keepalive (§2.3): ignored, counted; not liveness (§4)
 *   00 00 00 00 | IKE header   non-ESP marker (§2.2): strip and hand to IKE
 *   SPI (non-zero) | seq | ... ESP (§2.1)
 *
 * Pure: no state, never throws.
 */

/** An IKE header is 28 bytes (RFC 2408 §3.1); after the 4-byte marker anything shorter is no IKE. */
export const IKE_HEADER_LEN = 28;
export const NON_ESP_MARKER_LEN = 4;
/** SPI + sequence number (RFC 4303 §2). */
export const ESP_HEADER_LEN = 8;

export type NattDropReason = 'runt' | 'bad-keepalive' | 'ike-too-short' | 'esp-truncated';

/** Name table for the drop reasons (log text). */
export const NATT_DROP_NAMES: Record<NattDropReason, string> = {
  runt: 'datagram of 0-3 bytes',
  'bad-keepalive': 'one-byte datagram other than 0xFF',
  'ike-too-short': 'non-ESP marker followed by less than an IKE header',
  'esp-truncated': 'ESP shorter than SPI and sequence number',
};

export type NattClass =
  | { kind: 'keepalive' }
  | { kind: 'ike'; message: Uint8Array }
  | { kind: 'esp' }
  | { kind: 'drop'; reason: NattDropReason };

const KEEPALIVE: NattClass = { kind: 'keepalive' };
const ESP: NattClass = { kind: 'esp' };
const DROPS: Record<NattDropReason, NattClass> = {
  runt: { kind: 'drop', reason: 'runt' },
  'bad-keepalive': { kind: 'drop', reason: 'bad-keepalive' },
  'ike-too-short': { kind: 'drop', reason: 'ike-too-short' },
  'esp-truncated': { kind: 'drop', reason: 'esp-truncated' },
};

/** Classify one UDP payload received on port 4500. The IKE message is a view (no copy). */
export function classifyNatt(d: Uint8Array): NattClass {
  const n = d.length;
  if (n === 1) return d[0] === 0xff ? KEEPALIVE : DROPS['bad-keepalive'];
  if (n < 4) return DROPS.runt;
  if (d[0] === 0 && d[1] === 0 && d[2] === 0 && d[3] === 0) {
    if (n - NON_ESP_MARKER_LEN < IKE_HEADER_LEN) return DROPS['ike-too-short'];
    return { kind: 'ike', message: d.subarray(NON_ESP_MARKER_LEN) };
  }
  if (n < ESP_HEADER_LEN) return DROPS['esp-truncated'];
  return ESP;
}
