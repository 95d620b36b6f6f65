import { DecodeError } from '../../core/errors.js';

/**
 * Key Exchange payload body (RFC 2408 §3.7): the public DH value, big-endian
 * (for ECP groups x|y without a 0x04 prefix, RFC 5903 §7). The length is checked
 * against the negotiated group by the DH code, not here.
 */
export interface KePayload {
  data: Buffer;
}

export function decodeKe(body: Uint8Array): KePayload {
  if (body.length === 0) throw new DecodeError('empty KE payload', 0, 'empty-ke');
  return { data: Buffer.from(body) };
}

export function encodeKe(ke: KePayload): Buffer {
  return Buffer.from(ke.data);
}
