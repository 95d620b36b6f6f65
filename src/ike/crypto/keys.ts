import type { HashName } from './algorithms.js';
import { own } from '../../core/bytes.js';
import { hash, prf } from './prf.js';

/** Key derivation of IKEv1 with pre-shared keys (RFC 2409 §5, §5.4, §5.5, App. B). */

const u32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
};

export interface Phase1Keys {
  skeyid: Buffer;
  skeyidD: Buffer;
  skeyidA: Buffer;
  skeyidE: Buffer;
  /** Encryption key (App. B expansion when SKEYID_e is shorter than the cipher key). */
  encKey: Buffer;
}

/** SKEYID = prf(pre-shared-key, Ni_b | Nr_b) (RFC 2409 §5). */
export function skeyidPsk(h: HashName, psk: Uint8Array, niB: Uint8Array, nrB: Uint8Array): Buffer {
  return prf(h, psk, niB, nrB);
}

/** App. B: Ka = K1 | K2 | ..., K1 = prf(SKEYID_e, 0), Kn = prf(SKEYID_e, Kn-1); or SKEYID_e truncated. */
export function expandEncKey(h: HashName, skeyidE: Buffer, keyBytes: number): Buffer {
  if (skeyidE.length >= keyBytes) return own(skeyidE.subarray(0, keyBytes));
  const parts: Buffer[] = [];
  let k = prf(h, skeyidE, Buffer.from([0]));
  parts.push(k);
  let total = k.length;
  while (total < keyBytes) {
    k = prf(h, skeyidE, k);
    parts.push(k);
    total += k.length;
  }
  return own(Buffer.concat(parts).subarray(0, keyBytes));
}

/** SKEYID_d/_a/_e (RFC 2409 §5). */
export function derivePhase1(
  h: HashName, psk: Uint8Array, niB: Uint8Array, nrB: Uint8Array, gxy: Uint8Array, ckyI: Uint8Array, ckyR: Uint8Array, encKeyBytes: number,
): Phase1Keys {
  const skeyid = skeyidPsk(h, psk, niB, nrB);
  const skeyidD = prf(h, skeyid, gxy, ckyI, ckyR, Buffer.from([0]));
  const skeyidA = prf(h, skeyid, skeyidD, gxy, ckyI, ckyR, Buffer.from([1]));
  const skeyidE = prf(h, skeyid, skeyidA, gxy, ckyI, ckyR, Buffer.from([2]));
  return { skeyid, skeyidD, skeyidA, skeyidE, encKey: expandEncKey(h, skeyidE, encKeyBytes) };
}

/** Phase 1 IV = hash(g^xi | g^xr) truncated to the block size (RFC 2409 App. B). */
export function phase1Iv(h: HashName, gxi: Uint8Array, gxr: Uint8Array, blockSize: number): Buffer {
  return hash(h, gxi, gxr).subarray(0, blockSize);
}

/** Phase 2 / informational IV = hash(last Phase-1 CBC block | M-ID) truncated (RFC 2409 App. B). */
export function phase2Iv(h: HashName, lastPhase1Block: Uint8Array, messageId: number, blockSize: number): Buffer {
  return hash(h, lastPhase1Block, u32(messageId)).subarray(0, blockSize);
}

/** HASH_I = prf(SKEYID, g^xi | g^xr | CKY-I | CKY-R | SAi_b | IDii_b) (RFC 2409 §5). */
export function hashI(h: HashName, skeyid: Buffer, gxi: Uint8Array, gxr: Uint8Array, ckyI: Uint8Array, ckyR: Uint8Array, saiB: Uint8Array, idiiB: Uint8Array): Buffer {
  return prf(h, skeyid, gxi, gxr, ckyI, ckyR, saiB, idiiB);
}

/** HASH_R = prf(SKEYID, g^xr | g^xi | CKY-R | CKY-I | SAi_b | IDir_b) (RFC 2409 §5). */
export function hashR(h: HashName, skeyid: Buffer, gxi: Uint8Array, gxr: Uint8Array, ckyI: Uint8Array, ckyR: Uint8Array, saiB: Uint8Array, idirB: Uint8Array): Buffer {
  return prf(h, skeyid, gxr, gxi, ckyR, ckyI, saiB, idirB);
}

/** Quick Mode HASH(1) = prf(SKEYID_a, M-ID | SA | Ni [| KE] [| IDci | IDcr]) (RFC 2409 §5.5); also informational HASH (§5.7). */
export function qmHash1(h: HashName, skeyidA: Buffer, messageId: number, rest: Uint8Array): Buffer {
  return prf(h, skeyidA, u32(messageId), rest);
}

/** HASH(2) = prf(SKEYID_a, M-ID | Ni_b | SA | Nr [| KE] [| IDci | IDcr]). */
export function qmHash2(h: HashName, skeyidA: Buffer, messageId: number, niB: Uint8Array, rest: Uint8Array): Buffer {
  return prf(h, skeyidA, u32(messageId), niB, rest);
}

/** HASH(3) = prf(SKEYID_a, 0 | M-ID | Ni_b | Nr_b). */
export function qmHash3(h: HashName, skeyidA: Buffer, messageId: number, niB: Uint8Array, nrB: Uint8Array): Buffer {
  return prf(h, skeyidA, Buffer.from([0]), u32(messageId), niB, nrB);
}

/**
 * KEYMAT = K1 | K2 | ..., K1 = prf(SKEYID_d, [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b),
 * Kn = prf(SKEYID_d, Kn-1 | [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b) (RFC 2409 §5.5).
 * SPI is the one the RECEIVING side of that direction chose.
 */
export function keymat(
  h: HashName, skeyidD: Buffer, gqmxy: Uint8Array | undefined, protocol: number, spi: Uint8Array, niB: Uint8Array, nrB: Uint8Array, bytes: number,
): Buffer {
  const seed = Buffer.concat([gqmxy ?? Buffer.alloc(0), Buffer.from([protocol]), spi, niB, nrB]);
  const parts: Buffer[] = [];
  let k = prf(h, skeyidD, seed);
  parts.push(k);
  let total = k.length;
  while (total < bytes) {
    k = prf(h, skeyidD, k, seed);
    parts.push(k);
    total += k.length;
  }
  return Buffer.concat(parts).subarray(0, bytes);
}
