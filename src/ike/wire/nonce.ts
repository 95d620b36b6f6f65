import { DecodeError } from '../../core/errors.js';

/** Nonce payload body (RFC 2408 §3.13); RFC 2409 §5: between 8 and 256 bytes. */
export interface NoncePayload {
  data: Buffer;
}

export const NONCE_MIN = 8;
export const NONCE_MAX = 256;

export function decodeNonce(body: Uint8Array): NoncePayload {
  if (body.length < NONCE_MIN || body.length > NONCE_MAX) {
    throw new DecodeError(`nonce of ${body.length} bytes outside ${NONCE_MIN}..${NONCE_MAX}`, 0, 'bad-nonce');
  }
  return { data: Buffer.from(body) };
}

export function encodeNonce(n: NoncePayload): Buffer {
  return Buffer.from(n.data);
}
