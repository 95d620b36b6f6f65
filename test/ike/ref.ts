/**
 * Independent reference computations of RFC 2409 key derivation, written with
 * @noble/hashes (not node:crypto) so the tests do not check the code against itself.
 */
import { hmac } from '@noble/hashes/hmac.js';
import { sha1 } from '@noble/hashes/legacy.js';
import { sha256, sha384, sha512 } from '@noble/hashes/sha2.js';

export type RefHash = 'sha1' | 'sha256' | 'sha384' | 'sha512';
const H = { sha1, sha256, sha384, sha512 } as const;

const cat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};
const be32 = (v: number): Uint8Array => new Uint8Array([(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255]);

export const refPrf = (h: RefHash, key: Uint8Array, ...data: Uint8Array[]): Buffer => Buffer.from(hmac(H[h], key, cat(...data)));
export const refHash = (h: RefHash, ...data: Uint8Array[]): Buffer => Buffer.from(H[h](cat(...data)));

export interface RefPhase1 {
  skeyid: Buffer;
  d: Buffer;
  a: Buffer;
  e: Buffer;
  encKey: Buffer;
}

/** RFC 2409 §5 (PSK) and App. B key expansion. */
export function refPhase1(h: RefHash, psk: Uint8Array, ni: Uint8Array, nr: Uint8Array, gxy: Uint8Array, ckyI: Uint8Array, ckyR: Uint8Array, keyLen: number): RefPhase1 {
  const skeyid = refPrf(h, psk, ni, nr);
  const d = refPrf(h, skeyid, gxy, ckyI, ckyR, new Uint8Array([0]));
  const a = refPrf(h, skeyid, d, gxy, ckyI, ckyR, new Uint8Array([1]));
  const e = refPrf(h, skeyid, a, gxy, ckyI, ckyR, new Uint8Array([2]));
  let encKey: Buffer;
  if (e.length >= keyLen) {
    encKey = e.subarray(0, keyLen);
  } else {
    const ks: Buffer[] = [refPrf(h, e, new Uint8Array([0]))];
    while (ks.reduce((n, k) => n + k.length, 0) < keyLen) ks.push(refPrf(h, e, ks[ks.length - 1]!));
    encKey = Buffer.concat(ks).subarray(0, keyLen);
  }
  return { skeyid, d, a, e, encKey };
}

export const refPhase1Iv = (h: RefHash, gxi: Uint8Array, gxr: Uint8Array, block: number): Buffer => refHash(h, gxi, gxr).subarray(0, block);
export const refPhase2Iv = (h: RefHash, last: Uint8Array, mid: number, block: number): Buffer => refHash(h, last, be32(mid)).subarray(0, block);

/** RFC 2409 §5.5 KEYMAT with expansion; gqm optional (PFS). */
export function refKeymat(h: RefHash, d: Uint8Array, gqm: Uint8Array | undefined, proto: number, spi: Uint8Array, ni: Uint8Array, nr: Uint8Array, len: number): Buffer {
  const seed = cat(gqm ?? new Uint8Array(0), new Uint8Array([proto]), spi, ni, nr);
  const ks: Buffer[] = [refPrf(h, d, seed)];
  while (ks.reduce((n, k) => n + k.length, 0) < len) ks.push(refPrf(h, d, ks[ks.length - 1]!, seed));
  return Buffer.concat(ks).subarray(0, len);
}

export const refBe32 = be32;
export const refCat = cat;
