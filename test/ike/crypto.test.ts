import { createCipheriv } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { derivePhase1, expandEncKey, hashI, hashR, keymat, phase1Iv, phase2Iv, qmHash1, qmHash2, qmHash3 } from '../../src/ike/crypto/keys.js';
import { DH_GROUPS, generateKeyPair, validKeValue } from '../../src/ike/crypto/dh.js';
import { decryptBody, encryptBody } from '../../src/ike/crypto/cipher.js';
import { phase1Cipher } from '../../src/ike/crypto/algorithms.js';
import { prf } from '../../src/ike/crypto/prf.js';
import { getDiffieHellman } from 'node:crypto';
import { refBe32, refKeymat, refPhase1, refPhase1Iv, refPhase2Iv, refPrf, type RefHash } from './ref.js';

const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max }).map((u) => Buffer.from(u));

describe('IKEv1 key derivation vs an independent @noble/hashes computation', () => {
  it('HMAC-SHA1 PRF matches RFC 2202 test case 2', () => {
    expect(prf('sha1', Buffer.from('Jefe'), Buffer.from('what do ya want for nothing?')).toString('hex')).toBe('effcdf6ae5eb2fa2d27416d5f184df9c259a7c79');
  });

  for (const h of ['sha1', 'sha256', 'sha384', 'sha512'] as RefHash[]) {
    for (const keyLen of [16, 24, 32]) {
      it(`SKEYID, SKEYID_d/_a/_e and the ${keyLen}-byte key with ${h} (App. B expansion when needed)`, () => {
        fc.assert(
          fc.property(bytes(1, 64), bytes(8, 64), bytes(8, 64), bytes(128, 128), bytes(8, 8), bytes(8, 8), (psk, ni, nr, gxy, ci, cr) => {
            const ours = derivePhase1(h, psk, ni, nr, gxy, ci, cr, keyLen);
            const ref = refPhase1(h, psk, ni, nr, gxy, ci, cr, keyLen);
            expect(ours.skeyid.equals(ref.skeyid)).toBe(true);
            expect(ours.skeyidD.equals(ref.d)).toBe(true);
            expect(ours.skeyidA.equals(ref.a)).toBe(true);
            expect(ours.skeyidE.equals(ref.e)).toBe(true);
            expect(ours.encKey.equals(ref.encKey)).toBe(true);
            expect(ours.encKey.length).toBe(keyLen);
          }),
          { numRuns: 30 },
        );
      });
    }
  }

  it('App. B: 3DES and AES-256 with SHA1 need K1|K2 (K1 = prf(SKEYID_e, 0))', () => {
    const e = Buffer.alloc(20, 7);
    const k1 = refPrf('sha1', e, new Uint8Array([0]));
    const k2 = refPrf('sha1', e, k1);
    expect(expandEncKey('sha1', e, 24).equals(Buffer.concat([k1, k2]).subarray(0, 24))).toBe(true);
    expect(expandEncKey('sha1', e, 32).equals(Buffer.concat([k1, k2]).subarray(0, 32))).toBe(true);
    expect(expandEncKey('sha256', Buffer.alloc(32, 1), 32).equals(Buffer.alloc(32, 1))).toBe(true);
  });

  it('IVs, HASH_I/HASH_R, QM HASH(1)/(2)/(3) and KEYMAT (with and without PFS)', () => {
    fc.assert(
      fc.property(bytes(20, 20), bytes(128, 128), bytes(128, 128), bytes(8, 8), bytes(8, 8), bytes(8, 60), bytes(8, 12), fc.integer({ min: 1, max: 0xffffffff }), bytes(4, 4), fc.boolean(),
        (key, gxi, gxr, ci, cr, sai, id, mid, spi, pfs) => {
          expect(phase1Iv('sha1', gxi, gxr, 16).equals(refPhase1Iv('sha1', gxi, gxr, 16))).toBe(true);
          expect(phase2Iv('sha256', gxi.subarray(0, 16), mid, 16).equals(refPhase2Iv('sha256', gxi.subarray(0, 16), mid, 16))).toBe(true);
          expect(hashI('sha1', key, gxi, gxr, ci, cr, sai, id).equals(refPrf('sha1', key, gxi, gxr, ci, cr, sai, id))).toBe(true);
          expect(hashR('sha1', key, gxi, gxr, ci, cr, sai, id).equals(refPrf('sha1', key, gxr, gxi, cr, ci, sai, id))).toBe(true);
          expect(qmHash1('sha1', key, mid, sai).equals(refPrf('sha1', key, refBe32(mid), sai))).toBe(true);
          expect(qmHash2('sha1', key, mid, id, sai).equals(refPrf('sha1', key, refBe32(mid), id, sai))).toBe(true);
          expect(qmHash3('sha1', key, mid, id, sai).equals(refPrf('sha1', key, new Uint8Array([0]), refBe32(mid), id, sai))).toBe(true);
          const g = pfs ? gxr : undefined;
          for (const len of [20, 36, 52, 68, 96]) {
            expect(keymat('sha1', key, g, 3, spi, id, sai, len).equals(refKeymat('sha1', key, g, 3, spi, id, sai, len))).toBe(true);
          }
        }),
      { numRuns: 50 },
    );
  });
});

describe('DH groups', () => {
  for (const id of [2, 5, 14, 19, 20]) {
    it(`group ${id}: both sides agree, KE has the right length`, () => {
      const g = DH_GROUPS[id]!;
      let n = 0;
      const det = (k: number) => Buffer.alloc(k, ++n);
      const a = generateKeyPair(g, det);
      const b = generateKeyPair(g, (k) => Buffer.alloc(k, 0x5a));
      expect(a.publicValue.length).toBe(g.keLength);
      const s1 = a.computeShared(b.publicValue);
      const s2 = b.computeShared(a.publicValue);
      expect(s1 && s2 && s1.equals(s2)).toBe(true);
      // Deterministic with an injected random source.
      expect(generateKeyPair(g, (k) => Buffer.alloc(k, 0x5a)).publicValue.equals(b.publicValue)).toBe(true);
    });
  }

  /** g^x mod p by square-and-multiply on bigints: the reference the shared DH object must match. */
  const modPow = (base: bigint, exp: bigint, mod: bigint): bigint => {
    let r = 1n;
    let b = base % mod;
    for (let e = exp; e > 0n; e >>= 1n) {
      if (e & 1n) r = (r * b) % mod;
      b = (b * b) % mod;
    }
    return r;
  };
  const big = (b: Uint8Array): bigint => BigInt(`0x${Buffer.from(b).toString('hex')}`);
  const fixed = (len: number, v: bigint): Buffer => Buffer.from(v.toString(16).padStart(len * 2, '0'), 'hex');

  for (const [id, name] of [[2, 'modp2'], [5, 'modp5'], [14, 'modp14']] as const) {
    it(`group ${id}: public values and shared secrets equal g^x mod p of the named prime, key pairs alive together do not mix`, () => {
      const g = DH_GROUPS[id]!;
      const p = big(getDiffieHellman(name).getPrime());
      const xa = Buffer.alloc(32, 0x11);
      const xb = Buffer.alloc(32, 0x22);
      const a = generateKeyPair(g, () => Buffer.from(xa));
      const b = generateKeyPair(g, () => Buffer.from(xb));
      xa[0] = xa[0]! | 0x80;
      xb[0] = xb[0]! | 0x80;
      expect(a.publicValue.equals(fixed(g.keLength, modPow(2n, big(xa), p)))).toBe(true);
      expect(b.publicValue.equals(fixed(g.keLength, modPow(2n, big(xb), p)))).toBe(true);
      // a's secret computed after b was generated (and vice versa) is still a's
      const expected = fixed(g.keLength, modPow(big(b.publicValue), big(xa), p));
      expect(a.computeShared(b.publicValue)!.equals(expected)).toBe(true);
      expect(b.computeShared(a.publicValue)!.equals(expected)).toBe(true);
      expect(a.computeShared(b.publicValue)!.equals(expected)).toBe(true);
    });
  }

  it('rejects MODP KE values 0, 1, p-1, p and wrong lengths', () => {
    const g = DH_GROUPS[2]!;
    const p = getDiffieHellman('modp2').getPrime();
    const pm1 = Buffer.from(p);
    pm1[pm1.length - 1]! -= 1;
    const one = Buffer.alloc(128);
    one[127] = 1;
    for (const bad of [Buffer.alloc(128), one, pm1, Buffer.from(p), Buffer.alloc(127, 5), Buffer.alloc(129, 5)]) {
      expect(validKeValue(g, bad)).toBe(false);
      expect(generateKeyPair(g, (k) => Buffer.alloc(k, 3)).computeShared(bad)).toBeUndefined();
    }
    const two = Buffer.alloc(128);
    two[127] = 2;
    expect(validKeValue(g, two)).toBe(true);
  });

  it('rejects ECP points not on the curve', () => {
    const g = DH_GROUPS[19]!;
    const kp = generateKeyPair(g, (k) => Buffer.alloc(k, 3));
    expect(kp.computeShared(Buffer.alloc(64, 1))).toBeUndefined();
    expect(kp.computeShared(Buffer.alloc(63, 1))).toBeUndefined();
  });
});

describe('CBC bodies', () => {
  it('pads to the block size, round-trips, and matches node AES-CBC on padded input', () => {
    const alg = phase1Cipher(7, 128)!;
    const key = Buffer.alloc(16, 1);
    const iv = Buffer.alloc(16, 2);
    const plain = Buffer.from('0123456789abcdefXYZ');
    const c = encryptBody(alg, key, iv, plain);
    expect(c.length).toBe(32);
    const ref = createCipheriv('aes-128-cbc', key, iv).setAutoPadding(false);
    expect(Buffer.concat([ref.update(Buffer.concat([plain, Buffer.alloc(13)])), ref.final()]).equals(c)).toBe(true);
    expect(decryptBody(alg, key, iv, c)!.subarray(0, plain.length).equals(plain)).toBe(true);
    expect(decryptBody(alg, key, iv, c.subarray(0, 31))).toBeUndefined();
    expect(phase1Cipher(7, 0)).toBeUndefined();
    expect(phase1Cipher(5, 0)!.keyBytes).toBe(24);
  });
});
