/** Diffie-Hellman for IKEv2 (core/dh.ts): agreement, published vectors, and checks of peer values. */
import { createECDH, getDiffieHellman, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateKeyPair, IKEV2_DH_GROUPS, validKeValue } from '../../src/ikev2/crypto/dh.js';
import { DH_GROUPS as IKEV1_GROUPS } from '../../src/ike/crypto/dh.js';

const fixed = (hex: string) => (n: number): Buffer => {
  const b = Buffer.from(hex.replace(/\s+/g, ''), 'hex');
  expect(b.length).toBe(n);
  return Buffer.from(b);
};

describe('group tables', () => {
  it('IKEv2 offers 2, 14, 15, 16, 19, 20, 21, 31; IKEv1 keeps its own set', () => {
    expect(Object.keys(IKEV2_DH_GROUPS).map(Number)).toEqual([2, 14, 15, 16, 19, 20, 21, 31]);
    expect(Object.keys(IKEV1_GROUPS).map(Number)).toEqual([2, 5, 14, 19, 20]);
    expect(IKEV2_DH_GROUPS[21]!.keLength).toBe(132);
    expect(IKEV2_DH_GROUPS[16]!.keLength).toBe(512);
  });
});

describe.each(Object.values(IKEV2_DH_GROUPS))('group $id ($node)', (g) => {
  it('two key pairs agree; public values have the wire length and pass validation', () => {
    const a = generateKeyPair(g, randomBytes);
    const b = generateKeyPair(g, randomBytes);
    expect(a.publicValue).toHaveLength(g.keLength);
    expect(validKeValue(g, a.publicValue)).toBe(true);
    const s1 = a.computeShared(b.publicValue);
    const s2 = b.computeShared(a.publicValue);
    expect(s1).toBeDefined();
    expect(s1).toEqual(s2);
    expect(s1!.length).toBe(g.kind === 'modp' ? g.keLength : g.kind === 'ecp' ? g.keLength / 2 : 32);
  });
  it('values of the wrong length are refused', () => {
    const a = generateKeyPair(g, randomBytes);
    for (const n of [0, 1, g.keLength - 1, g.keLength + 1]) {
      expect(validKeValue(g, Buffer.alloc(n, 2))).toBe(false);
      expect(a.computeShared(Buffer.alloc(n, 2))).toBeUndefined();
    }
  });
});

describe('MODP range (RFC 7296 §5, CVE-2015-3240)', () => {
  for (const id of [2, 14, 15, 16]) {
    it(`group ${id}: 0, 1, p-1, p and all-ones are refused; 2 and p-2 accepted`, () => {
      const g = IKEV2_DH_GROUPS[id]!;
      const p = getDiffieHellman(g.node).getPrime();
      const pBig = BigInt(`0x${p.toString('hex')}`);
      const enc = (v: bigint) => Buffer.from(v.toString(16).padStart(g.keLength * 2, '0'), 'hex');
      const kp = generateKeyPair(g, randomBytes);
      for (const bad of [0n, 1n, pBig - 1n, pBig, 2n ** BigInt(g.keLength * 8) - 1n]) {
        expect(validKeValue(g, enc(bad))).toBe(false);
        expect(kp.computeShared(enc(bad))).toBeUndefined();
      }
      expect(validKeValue(g, enc(2n))).toBe(true);
      expect(validKeValue(g, enc(pBig - 2n))).toBe(true);
    });
  }
});

describe('ECP (RFC 5903)', () => {
  it('§8.1 256-bit random ECP group test vector', () => {
    const g = IKEV2_DH_GROUPS[19]!;
    const i = generateKeyPair(g, fixed('C88F01F5 10D9AC3F 70A292DA A2316DE5 44E9AAB8 AFE84049 C62A9C57 862D1433'));
    expect(i.publicValue.toString('hex').toUpperCase()).toBe(
      ('DAD0B653 94221CF9 B051E1FE CA5787D0 98DFE637 FC90B9EF 945D0C37 72581180' + '5271A046 1CDB8252 D61F1C45 6FA3E59A B1F45B33 ACCF5F58 389E0577 B8990BB3').replace(/ /g, ''),
    );
    const r = generateKeyPair(g, fixed('C6EF9C5D 78AE012A 011164AC B397CE20 88685D8F 06BF9BE0 B283AB46 476BEE53'));
    expect(r.publicValue.toString('hex').toUpperCase()).toBe(
      ('D12DFB52 89C8D4F8 1208B702 70398C34 2296970A 0BCCB74C 736FC755 4494BF63' + '56FBF3CA 366CC23E 8157854C 13C58D6A AC23F046 ADA30F83 53E74F33 039872AB').replace(/ /g, ''),
    );
    expect(i.computeShared(r.publicValue)!.toString('hex').toUpperCase()).toBe('D6840F6B42F6EDAFD13116E0E12565202FEF8E9ECE7DCE03812464D04B9442DE');
  });
  for (const id of [19, 20, 21]) {
    it(`group ${id}: points off the curve and coordinates >= p are refused`, () => {
      const g = IKEV2_DH_GROUPS[id]!;
      const kp = generateKeyPair(g, randomBytes);
      const peer = Buffer.from(generateKeyPair(g, randomBytes).publicValue);
      const off = Buffer.from(peer);
      off[off.length - 1] = off[off.length - 1]! ^ 1;
      expect(validKeValue(g, off)).toBe(false);
      expect(kp.computeShared(off)).toBeUndefined();
      expect(validKeValue(g, Buffer.alloc(g.keLength))).toBe(false); // (0, 0)
      expect(validKeValue(g, Buffer.alloc(g.keLength, 0xff))).toBe(false);
      // node's own encoding of a point is accepted (independent check of the curve constants)
      const e = createECDH(g.node);
      e.generateKeys();
      expect(validKeValue(g, e.getPublicKey().subarray(1))).toBe(true);
    });
  }
  it('P-521 private values are masked to 521 bits, so random draws succeed', () => {
    const g = IKEV2_DH_GROUPS[21]!;
    const peer = generateKeyPair(g, randomBytes);
    for (let i = 0; i < 20; i++) {
      const kp = generateKeyPair(g, randomBytes);
      expect(kp.computeShared(peer.publicValue)).toEqual(peer.computeShared(kp.publicValue));
    }
    // 0x01ff..ff masked is above the group order: every draw fails, and that is said
    expect(() => generateKeyPair(g, (n) => Buffer.alloc(n, 0xff))).toThrow(/no valid secp521r1 private key/);
  });
});

describe('Curve25519 (RFC 8031, RFC 7748)', () => {
  const g = IKEV2_DH_GROUPS[31]!;
  it('RFC 7748 §6.1 test vector', () => {
    const alice = generateKeyPair(g, fixed('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'));
    const bob = generateKeyPair(g, fixed('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb'));
    expect(alice.publicValue.toString('hex')).toBe('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
    expect(bob.publicValue.toString('hex')).toBe('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
    expect(alice.computeShared(bob.publicValue)!.toString('hex')).toBe('4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742');
  });
  it('low-order points giving an all-zero secret are refused (RFC 8031 §2.3)', () => {
    const kp = generateKeyPair(g, randomBytes);
    expect(kp.computeShared(Buffer.alloc(32))).toBeUndefined();
    const one = Buffer.alloc(32);
    one[0] = 1;
    expect(kp.computeShared(one)).toBeUndefined();
  });
});
