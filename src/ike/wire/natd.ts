import { DecodeError } from '../../core/errors.js';

/**
 * NAT-D payload body (RFC 3947 §3.2; payload type 20, draft type 130):
 * HASH = HASH(CKY-I | CKY-R | IP | Port) with the negotiated hash.
 */
export interface NatDPayload {
  hash: Buffer;
}

export function decodeNatD(body: Uint8Array): NatDPayload {
  if (body.length === 0) throw new DecodeError('empty NAT-D payload', 0, 'empty-natd');
  return { hash: Buffer.from(body) };
}

export function encodeNatD(n: NatDPayload): Buffer {
  return Buffer.from(n.hash);
}
