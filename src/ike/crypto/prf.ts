import { createHash, createHmac } from 'node:crypto';
import type { HashName } from './algorithms.js';

/** PRF = HMAC of the negotiated hash (RFC 2409 §4: the default when no PRF attribute is negotiated). */
export function prf(hash: HashName, key: Uint8Array, ...data: Uint8Array[]): Buffer {
  const h = createHmac(hash, key);
  for (const d of data) h.update(d);
  return h.digest();
}

/** The plain hash (Phase 1 IV, NAT-D). */
export function hash(name: HashName, ...data: Uint8Array[]): Buffer {
  const h = createHash(name);
  for (const d of data) h.update(d);
  return h.digest();
}
