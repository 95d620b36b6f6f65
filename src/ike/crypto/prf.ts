import { digest, hmac } from '../../core/oneshot.js';
import type { HashName } from './algorithms.js';

/** PRF = HMAC of the negotiated hash (RFC 2409 §4: the default when no PRF attribute is negotiated). */
export function prf(hash: HashName, key: Uint8Array, ...data: Uint8Array[]): Buffer {
  return hmac(hash, key, ...data);
}

/** The plain hash (Phase 1 IV, NAT-D). */
export function hash(name: HashName, ...data: Uint8Array[]): Buffer {
  return digest(name, ...data);
}
