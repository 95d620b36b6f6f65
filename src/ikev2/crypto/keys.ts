import type { EncrAlg, IntegAlg, PrfAlg } from './algorithms.js';
import { prf, prfPlus } from './prf.js';

/**
 * The IKE SA key schedule (RFC 7296 §2.14) and child SA keying material (§2.17).
 *
 *   SKEYSEED = prf(Ni | Nr, g^ir)
 *   {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+ (SKEYSEED, Ni | Nr | SPIi | SPIr)
 *
 * SK_d, SK_pi and SK_pr are as long as the PRF's key (its output for HMAC); SK_a as
 * the integrity key (none with an AEAD); SK_e as the cipher key plus the salt of
 * an AEAD (RFC 5282 §7.1).
 */
export interface IkeKeys {
  skeyseed: Buffer;
  skD: Buffer;
  skAi: Buffer;
  skAr: Buffer;
  skEi: Buffer;
  skEr: Buffer;
  skPi: Buffer;
  skPr: Buffer;
}

export interface IkeSuiteSizes {
  prf: PrfAlg;
  encr: EncrAlg;
  /** Undefined with an AEAD. */
  integ?: IntegAlg | undefined;
}

/** SKEYSEED = prf(Ni | Nr, g^ir) for the initial IKE SA (HMAC PRFs take Ni | Nr whole). */
export function skeyseedInitial(alg: PrfAlg, ni: Uint8Array, nr: Uint8Array, gir: Uint8Array): Buffer {
  return prf(alg, Buffer.concat([ni, nr]), gir);
}

/**
 * SKEYSEED of a rekeyed IKE SA (§2.18): prf(SK_d (old), g^ir (new) | Ni | Nr),
 * with the old IKE SA's PRF ("it is the old IKE SA's PRF that is used").
 */
export function skeyseedRekey(oldPrf: PrfAlg, oldSkD: Uint8Array, gir: Uint8Array, ni: Uint8Array, nr: Uint8Array): Buffer {
  return prf(oldPrf, oldSkD, gir, ni, nr);
}

/** The seven keys from SKEYSEED (prf+ with the new SA's PRF). */
export function deriveIkeKeys(s: IkeSuiteSizes, skeyseed: Buffer, ni: Uint8Array, nr: Uint8Array, spiI: Uint8Array, spiR: Uint8Array): IkeKeys {
  const p = s.prf.size;
  const a = s.encr.aead ? 0 : (s.integ?.keyBytes ?? 0);
  const e = s.encr.keyBytes + s.encr.saltBytes;
  const km = prfPlus(s.prf, skeyseed, Buffer.concat([ni, nr, spiI, spiR]), 3 * p + 2 * a + 2 * e);
  let off = 0;
  const take = (n: number): Buffer => Buffer.from(km.subarray(off, (off += n)));
  return { skeyseed, skD: take(p), skAi: take(a), skAr: take(a), skEi: take(e), skEr: take(e), skPi: take(p), skPr: take(p) };
}

/** SKEYSEED and the seven keys of the first IKE SA. */
export function ikeKeys(s: IkeSuiteSizes, ni: Uint8Array, nr: Uint8Array, gir: Uint8Array, spiI: Uint8Array, spiR: Uint8Array): IkeKeys {
  return deriveIkeKeys(s, skeyseedInitial(s.prf, ni, nr, gir), ni, nr, spiI, spiR);
}

/** One direction of a child SA: cipher key (with the salt for GCM, RFC 4106 §8.1) and integrity key. */
export interface ChildDirectionKeys {
  encKey: Buffer;
  integKey: Buffer;
}

export interface ChildKeys {
  /** Initiator to responder. */
  i2r: ChildDirectionKeys;
  /** Responder to initiator. */
  r2i: ChildDirectionKeys;
}

/**
 * KEYMAT = prf+(SK_d, Ni | Nr), or prf+(SK_d, g^ir (new) | Ni | Nr) with PFS (§2.17).
 * Keys for the initiator-to-responder direction come first; in each direction the
 * encryption key before the integrity key.
 */
export function childKeys(alg: PrfAlg, skD: Uint8Array, ni: Uint8Array, nr: Uint8Array, encBytes: number, integBytes: number, girPfs?: Uint8Array): ChildKeys {
  const seed = girPfs ? Buffer.concat([girPfs, ni, nr]) : Buffer.concat([ni, nr]);
  const km = prfPlus(alg, skD, seed, 2 * (encBytes + integBytes));
  let off = 0;
  const take = (n: number): Buffer => Buffer.from(km.subarray(off, (off += n)));
  const i2r = { encKey: take(encBytes), integKey: take(integBytes) };
  const r2i = { encKey: take(encBytes), integKey: take(integBytes) };
  return { i2r, r2i };
}
