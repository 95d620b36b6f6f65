import { DecodeError } from '../../core/errors.js';

/** Hash payload body (RFC 2408 §3.11): the PRF output; its length is checked against the negotiated hash. */
export interface HashPayload {
  data: Buffer;
}

export function decodeHash(body: Uint8Array): HashPayload {
  if (body.length === 0) throw new DecodeError('empty HASH payload', 0, 'empty-hash');
  return { data: Buffer.from(body) };
}

export function encodeHash(h: HashPayload): Buffer {
  return Buffer.from(h.data);
}
