import { hmac } from '../../core/oneshot.js';
import type { PrfAlg } from './algorithms.js';

/** prf(K, S) with an HMAC PRF (RFC 7296 §2.13, RFC 2104, RFC 4868 §2.1.2: the key is used whole). */
export function prf(alg: PrfAlg, key: Uint8Array, ...data: Uint8Array[]): Buffer {
  return hmac(alg.hash, key, ...data);
}

/**
 * prf+ (RFC 7296 §2.13):
 *   prf+ (K,S) = T1 | T2 | T3 | T4 | ...
 *   T1 = prf (K, S | 0x01)
 *   T2 = prf (K, T1 | S | 0x02)
 *   T3 = prf (K, T2 | S | 0x03)
 * "The prf+ function is not defined beyond 255 times the size of the prf function output."
 */
export function prfPlus(alg: PrfAlg, key: Uint8Array, seed: Uint8Array, length: number): Buffer {
  if (length > 255 * alg.size) throw new RangeError(`prf+ cannot give ${length} bytes with ${alg.label}`);
  const out = Buffer.alloc(Math.ceil(length / alg.size) * alg.size);
  let t: Buffer = Buffer.alloc(0);
  for (let i = 1, off = 0; off < length; i++, off += alg.size) {
    t = prf(alg, key, t, seed, Uint8Array.of(i));
    t.copy(out, off);
  }
  return out.subarray(0, length);
}
