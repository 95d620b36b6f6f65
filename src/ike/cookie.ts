import { createHmac } from 'node:crypto';
import type { Endpoint } from '../core/sa.js';

/**
 * Responder cookie (RFC 2408 §2.5.3): a truncated HMAC over the peer's address,
 * port, the initiator cookie and a time bucket, keyed with a per-run secret, so
 * it cannot be predicted by a third party.
 */
export const COOKIE_BUCKET_MS = 60_000;

export function responderCookie(secret: Buffer, peer: Endpoint, ckyI: Uint8Array, now: number, salt: number): Buffer {
  const h = createHmac('sha256', secret);
  h.update(`${peer.address}|${peer.port}|${salt}|${Math.floor(now / COOKIE_BUCKET_MS)}|`);
  h.update(ckyI);
  const c = h.digest().subarray(0, 8);
  if (c.every((b) => b === 0)) c[7] = 1; // never the all-zero "no cookie" value
  return Buffer.from(c);
}
