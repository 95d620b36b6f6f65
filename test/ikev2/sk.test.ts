/** SK and SKF protection (RFC 7296 §3.14, RFC 5282, RFC 7383), checked against @noble/ciphers and @noble/hashes. */
import { randomBytes } from 'node:crypto';
import { cbc, gcm } from '@noble/ciphers/aes.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256, sha384, sha512 } from '@noble/hashes/sha2.js';
import { sha1 } from '@noble/hashes/legacy.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecodeError } from '../../src/core/errors.js';
import { encrAlg, INTEG_ALGS, type SkSuite } from '../../src/ikev2/crypto/algorithms.js';
import { encodeEncryptedMessage, encodeFragments, openEncrypted, openSk, skKeys, type SkKeys } from '../../src/ikev2/crypto/sk.js';
import { Encr, Integ, PayloadType } from '../../src/ikev2/wire/constants.js';
import { decodeMessage, decodePayloadChain, encodePayloads, type Payload } from '../../src/ikev2/wire/message.js';
import { notify } from '../../src/ikev2/wire/notify.js';
import { FragmentReassembler } from '../../src/ikev2/fragments.js';
import { headerFieldsArb, payloadListArb } from './arbitraries.js';

const HASHES = { sha1, sha256, sha384, sha512 } as const;

const suites: [string, SkSuite][] = [];
for (const bits of [128, 256]) {
  for (const integ of [Integ.HMAC_SHA1_96, Integ.HMAC_SHA2_256_128, Integ.HMAC_SHA2_384_192, Integ.HMAC_SHA2_512_256]) {
    suites.push([`aes${bits}-cbc/${INTEG_ALGS[integ]!.label}`, { encr: encrAlg(Encr.AES_CBC, bits)!, integ: INTEG_ALGS[integ]! }]);
  }
  for (const g of [Encr.AES_GCM_8, Encr.AES_GCM_12, Encr.AES_GCM_16]) suites.push([encrAlg(g, bits)!.label, { encr: encrAlg(g, bits)! }]);
}

function keysFor(s: SkSuite): SkKeys {
  return skKeys(s, randomBytes(s.encr.keyBytes + s.encr.saltBytes), s.integ ? randomBytes(s.integ.keyBytes) : undefined);
}

const HDR = { spiI: Buffer.alloc(8, 0xa1), spiR: Buffer.alloc(8, 0xb2), exchangeType: 35, flags: 0x08, messageId: 1 };
const INNER: Payload[] = [
  { type: PayloadType.IDi, value: { idType: 2, data: Buffer.from('client.example') } },
  { type: PayloadType.N, value: notify(16384) },
];

describe('encryptedness', () => {
  it('AES needs a Key Length of 128/192/256; other ciphers are unsupported', () => {
    expect(encrAlg(Encr.AES_CBC, undefined)).toBeUndefined();
    expect(encrAlg(Encr.AES_CBC, 64)).toBeUndefined();
    expect(encrAlg(Encr['3DES'], 192)).toBeUndefined();
    expect(encrAlg(Encr.AES_GCM_16, 256)).toMatchObject({ aead: true, keyBytes: 32, saltBytes: 4, ivBytes: 8, tagBytes: 16 });
  });
});

describe.each(suites)('SK with %s', (_name, suite) => {
  it('round-trips and the checksum is what an independent implementation computes', () => {
    const keys = keysFor(suite);
    const msg = encodeEncryptedMessage(HDR, INNER, suite, keys, randomBytes);
    const { header, chain } = decodeMessage(msg);
    expect(header.nextPayload).toBe(PayloadType.SK);
    expect(chain.sk?.firstInner).toBe(PayloadType.IDi);
    const plain = openSk(suite, keys, msg, chain.sk!);
    expect(plain).toEqual(encodePayloads(INNER));
    const inner = decodePayloadChain(chain.sk!.firstInner, plain!, 0, plain!.length, false);
    expect(inner.payloads.map((p) => p.type)).toEqual([PayloadType.IDi, PayloadType.N]);

    // independent check
    const prefix = msg.subarray(0, chain.sk!.ivOffset);
    const iv = chain.sk!.data.subarray(0, suite.encr.ivBytes);
    const rest = chain.sk!.data.subarray(suite.encr.ivBytes);
    let padded: Uint8Array;
    if (suite.encr.aead) {
      expect(suite.encr.tagBytes).toBeGreaterThan(0);
      // noble's gcm has a 16-byte tag: recompute with it and compare the truncated tag
      const ct = rest.subarray(0, rest.length - suite.encr.tagBytes);
      const full = gcm(keys.encKey, Buffer.concat([keys.salt, iv]), prefix).encrypt(gcmPlain(keys, iv, prefix, ct));
      expect(Buffer.from(full.subarray(0, ct.length))).toEqual(Buffer.from(ct));
      expect(Buffer.from(full.subarray(ct.length, ct.length + suite.encr.tagBytes))).toEqual(Buffer.from(rest.subarray(ct.length)));
      padded = gcmPlain(keys, iv, prefix, ct);
    } else {
      const icvLen = suite.integ!.icvBytes;
      const ct = rest.subarray(0, rest.length - icvLen);
      const mac = hmac(HASHES[suite.integ!.hash], keys.integKey, Buffer.concat([prefix, iv, ct]));
      expect(Buffer.from(mac.subarray(0, icvLen))).toEqual(Buffer.from(rest.subarray(ct.length)));
      padded = cbc(keys.encKey, iv, { disablePadding: true }).decrypt(ct);
    }
    const padLen = padded[padded.length - 1]!;
    expect(Buffer.from(padded.subarray(0, padded.length - padLen - 1))).toEqual(encodePayloads(INNER));
  });

  it('any changed byte (header, SK header, IV, ciphertext, ICV) makes it fail the check', () => {
    const keys = keysFor(suite);
    const msg = encodeEncryptedMessage(HDR, INNER, suite, keys, randomBytes);
    const sk = decodeMessage(msg).chain.sk!;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: msg.length - 1 }), fc.integer({ min: 1, max: 255 }), (i, x) => {
        const m = Buffer.from(msg);
        m[i]! ^= x;
        // header length and SK length are structural: change only what keeps the layout
        if (i >= 24 && i < 28) return;
        if (i === sk.offset + 2 || i === sk.offset + 3) return;
        const prefix = m.subarray(0, sk.ivOffset);
        expect(openEncrypted(suite, keys, prefix, m.subarray(sk.ivOffset))).toBeUndefined();
      }),
      { numRuns: 200 },
    );
    const other = keysFor(suite);
    expect(openSk(suite, other, msg, sk)).toBeUndefined();
  });

  it('messages of random payloads round-trip', () => {
    const keys = keysFor(suite);
    fc.assert(
      fc.property(headerFieldsArb, payloadListArb, (h, ps) => {
        const msg = encodeEncryptedMessage(h, ps, suite, keys, randomBytes);
        const d = decodeMessage(msg);
        expect(openSk(suite, keys, msg, d.chain.sk!)).toEqual(encodePayloads(ps));
      }),
      { numRuns: 50 },
    );
  });

  it('SKF: fragments fit the size, open one by one and reassemble in any order', () => {
    const keys = keysFor(suite);
    const big: Payload[] = [
      { type: PayloadType.CERT, value: { encoding: 4, data: randomBytes(3000) } },
      { type: PayloadType.AUTH, value: { method: 1, data: randomBytes(256) } },
    ];
    for (const max of [576, 1280]) {
      const frags = encodeFragments(HDR, big, suite, keys, max, randomBytes);
      expect(frags.length).toBe(Math.ceil(encodePayloads(big).length / (Math.floor((max - 28 - 8 - suite.encr.ivBytes - (suite.encr.aead ? suite.encr.tagBytes : suite.integ!.icvBytes)) / suite.encr.blockSize) * suite.encr.blockSize - 1)));
      for (const f of frags) expect(f.length).toBeLessThanOrEqual(max);
      const r = new FragmentReassembler();
      const order = [...frags.keys()].reverse();
      let done: Buffer | undefined;
      let first = -1;
      for (const i of order) {
        const d = decodeMessage(frags[i]!);
        expect(d.header.messageId).toBe(1);
        const skf = d.chain.skf!;
        expect(skf.totalFragments).toBe(frags.length);
        const plain = openEncrypted(suite, keys, frags[i]!.subarray(0, skf.ivOffset), skf.data)!;
        expect(plain).toBeDefined();
        const res = r.add(d.header.messageId, skf.fragmentNumber, skf.totalFragments, skf.firstInner, plain, 0);
        if (res.kind === 'complete') {
          done = res.plain;
          first = res.firstInner;
        }
      }
      expect(first).toBe(PayloadType.CERT);
      expect(done).toEqual(encodePayloads(big));
      // a changed Fragment Number is covered by the checksum
      const f2 = Buffer.from(frags[1]!);
      f2[33] = f2[33]! ^ 1;
      const d2 = decodeMessage(frags[1]!).chain.skf!;
      expect(openEncrypted(suite, keys, f2.subarray(0, d2.ivOffset), f2.subarray(d2.ivOffset))).toBeUndefined();
    }
  });
});

function gcmPlain(keys: SkKeys, iv: Uint8Array, aad: Uint8Array, ct: Uint8Array): Uint8Array {
  // GCM is CTR mode: encrypting zeros yields the keystream, XOR gives the plaintext
  const ks = gcm(keys.encKey, Buffer.concat([keys.salt, iv]), aad).encrypt(new Uint8Array(ct.length));
  return ct.map((b, i) => b ^ ks[i]!);
}

describe('SK structure after a good checksum', () => {
  it('CBC ciphertext that is not whole blocks, and a pad length past the start, are DecodeErrors', () => {
    const suite: SkSuite = { encr: encrAlg(Encr.AES_CBC, 128)!, integ: INTEG_ALGS[Integ.HMAC_SHA2_256_128]! };
    const keys = keysFor(suite);
    const prefix = Buffer.alloc(32, 1);
    const iv = Buffer.alloc(16, 2);
    const ct = Buffer.alloc(17, 3);
    const mac = hmac(sha256, keys.integKey, Buffer.concat([prefix, iv, ct])).subarray(0, 16);
    expect(() => openEncrypted(suite, keys, prefix, Buffer.concat([iv, ct, mac]))).toThrow(DecodeError);
    // a block whose last byte (pad length) is 255
    const plain = Buffer.alloc(16, 0xff);
    const ct2 = Buffer.from(cbc(keys.encKey, iv, { disablePadding: true }).encrypt(plain));
    const mac2 = hmac(sha256, keys.integKey, Buffer.concat([prefix, iv, ct2])).subarray(0, 16);
    expect(() => openEncrypted(suite, keys, prefix, Buffer.concat([iv, ct2, mac2]))).toThrow(DecodeError);
  });
  it('data shorter than IV + ICV + 1 is a DecodeError', () => {
    const suite: SkSuite = { encr: encrAlg(Encr.AES_GCM_16, 128)! };
    expect(() => openEncrypted(suite, keysFor(suite), Buffer.alloc(32), Buffer.alloc(24))).toThrow(DecodeError);
  });
});

describe('fragment reassembly limits (RFC 7383 §2.6)', () => {
  const p = (n: number) => Buffer.alloc(n, 1);
  it('duplicates are dropped, a larger total restarts, a smaller total is dropped', () => {
    const r = new FragmentReassembler();
    expect(r.add(5, 1, 3, 35, p(10), 0).kind).toBe('pending');
    expect(r.add(5, 1, 3, 35, p(10), 0)).toEqual({ kind: 'dropped', reason: 'duplicate' });
    expect(r.add(5, 2, 2, 0, p(10), 0)).toEqual({ kind: 'dropped', reason: 'stale-total' });
    expect(r.add(5, 2, 4, 0, p(10), 0).kind).toBe('pending'); // restarted with 4
    expect(r.add(5, 1, 4, 35, p(10), 0).kind).toBe('pending');
    expect(r.add(5, 3, 4, 0, p(10), 0).kind).toBe('pending');
    const c = r.add(5, 4, 4, 0, p(10), 0);
    expect(c).toMatchObject({ kind: 'complete', firstInner: 35 });
    expect(r.pending).toBe(false);
  });
  it('count, size and time are bounded; an older message id is dropped; a newer one replaces', () => {
    const r = new FragmentReassembler({ maxFragments: 4, maxBytes: 100, timeoutMs: 1000 });
    expect(r.add(1, 1, 5, 35, p(1), 0)).toEqual({ kind: 'dropped', reason: 'too-many-fragments' });
    expect(r.add(1, 1, 4, 35, p(60), 0).kind).toBe('pending');
    expect(r.add(1, 2, 4, 0, p(60), 0)).toEqual({ kind: 'dropped', reason: 'too-large' });
    expect(r.pending).toBe(false);
    expect(r.add(2, 1, 2, 35, p(10), 0).kind).toBe('pending');
    expect(r.nextDeadline()).toBe(1000);
    expect(r.expire(999)).toBe(false);
    expect(r.expire(1000)).toBe(true);
    expect(r.add(3, 1, 2, 35, p(10), 2000).kind).toBe('pending');
    expect(r.add(2, 2, 2, 0, p(10), 2000)).toEqual({ kind: 'dropped', reason: 'old-message' });
    expect(r.add(4, 2, 2, 0, p(10), 2000).kind).toBe('pending'); // message 4 replaced 3
    expect(r.add(3, 1, 2, 35, p(10), 2000)).toEqual({ kind: 'dropped', reason: 'old-message' });
    // a set that never completes expires when the next fragment arrives late
    expect(r.add(4, 1, 2, 35, p(10), 3000 + 1)).toEqual({ kind: 'pending' });
    expect(r.pending).toBe(true);
  });
});
