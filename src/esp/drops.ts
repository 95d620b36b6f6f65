/**
 * Why an ESP packet was dropped: the counter key ("esp.in.drop.<reason>",
 * "esp.out.drop.<reason>") and a name table so the logs read well.
 */
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
