import { cbc } from '../oneshot.js';

/**
 * Single DES for MS-CHAP's ChallengeResponse (RFC 2759 §8.5–8.6). Node 20's
 * node:crypto has no single DES, but three-key 3DES with K1 = K2 = K3 = K
 * is exactly DES: E_K(D_K(E_K(x))) = E_K(x). So 'des-ede3' (ECB) with K|K|K.
 */

/** Odd parity in the low bit of each byte (FIPS 46-3 §2.1; OpenSSL ignores it, clients set it). */
function withOddParity(b: number): number {
  let ones = 0;
  for (let i = 1; i < 8; i++) ones += (b >> i) & 1;
  return (b & 0xfe) | (ones % 2 === 0 ? 1 : 0);
}

/**
 * RFC 2759 §8.6 DesEncrypt's key: the 56 bits of a 7-byte key spread over
 * 8 bytes, 7 bits each, high bits first, the low bit of each byte parity.
 */
export function expandDesKey(key7: Uint8Array): Buffer {
  if (key7.length !== 7) throw new RangeError(`DES key material must be 7 bytes, got ${key7.length}`);
  const k = key7;
  const out = Buffer.alloc(8);
  out[0] = k[0]!;
  out[1] = ((k[0]! << 7) | (k[1]! >> 1)) & 0xff;
  out[2] = ((k[1]! << 6) | (k[2]! >> 2)) & 0xff;
  out[3] = ((k[2]! << 5) | (k[3]! >> 3)) & 0xff;
  out[4] = ((k[3]! << 4) | (k[4]! >> 4)) & 0xff;
  out[5] = ((k[4]! << 3) | (k[5]! >> 5)) & 0xff;
  out[6] = ((k[5]! << 2) | (k[6]! >> 6)) & 0xff;
  out[7] = (k[6]! << 1) & 0xff;
  for (let i = 0; i < 8; i++) out[i] = withOddParity(out[i]!);
  return out;
}

const ZERO_IV = new Uint8Array(8);

/** DES-ECB encryption of one 8-byte block with an 8-byte key (parity bits ignored). */
export function desEncryptBlock(key8: Uint8Array, block: Uint8Array): Buffer {
  if (key8.length !== 8) throw new RangeError(`DES key must be 8 bytes, got ${key8.length}`);
  if (block.length !== 8) throw new RangeError(`DES block must be 8 bytes, got ${block.length}`);
  const k = Buffer.concat([key8, key8, key8]);
  return cbc('des-ede3-cbc', k, ZERO_IV, block, true); // one block chained from a zero IV: ECB
}

/** RFC 2759 §8.6 DesEncrypt(Clear, Key[7], Cypher[8]). */
export function desEncrypt(clear: Uint8Array, key7: Uint8Array): Buffer {
  return desEncryptBlock(expandDesKey(key7), clear);
}
