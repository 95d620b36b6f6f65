import { Reader } from '../../core/bytes.js';
import { DecodeError } from '../../core/errors.js';

/**
 * Nonce payload Ni/Nr (RFC 7296 §3.9):
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Next Payload  |C|  RESERVED   |         Payload Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                            Nonce Data                         ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * "The size of the Nonce Data MUST be between 16 and 256 octets, inclusive."
 */
export const MIN_NONCE = 16;
export const MAX_NONCE = 256;

export interface NoncePayload {
  nonce: Buffer;
}

export function decodeNonce(body: Uint8Array): NoncePayload {
  if (body.length < MIN_NONCE || body.length > MAX_NONCE) throw new DecodeError(`nonce of ${body.length} bytes outside ${MIN_NONCE}..${MAX_NONCE}`, 0, 'bad-nonce');
  return { nonce: new Reader(body).copy(body.length, 'nonce') };
}

export function encodeNonce(n: NoncePayload): Buffer {
  if (n.nonce.length < MIN_NONCE || n.nonce.length > MAX_NONCE) throw new RangeError('nonce size');
  return Buffer.from(n.nonce);
}
