/**
 * HMAC of a batch in one call (native/hmac.c through PreparedHmac.signMany /
 * verifyMany) against node:crypto's createHmac, and the engine's inbound
 * batch verification: forged and duplicate packets inside one batch.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Counters } from '../../src/core/counters.js';
import { EspEngine, type EspInbound } from '../../src/esp/engine.js';
import { PreparedHmac, type CbcBatchProvider, type GcmBatchProvider, type HmacBatchProvider } from '../../src/esp/hmac.js';
import { nativeCbc, nativeGcm, nativeHmac } from '../../src/io/udp-native.js';
import { saPair } from './helpers.js';

const NATIVE = nativeHmac();
const PROVIDERS: [string, HmacBatchProvider | undefined][] = [['node:crypto', undefined], ...(NATIVE ? [['native batch', NATIVE] as [string, HmacBatchProvider]] : [])];
const HASHES = [
  { hash: 'sha1', block: 64, len: 20 },
  { hash: 'sha256', block: 64, len: 32 },
  { hash: 'sha384', block: 128, len: 48 },
  { hash: 'sha512', block: 128, len: 64 },
] as const;

describe.each(PROVIDERS)('PreparedHmac.signMany / verifyMany (%s)', (_name, provider) => {
  it('equal createHmac truncated, for any key length (longer than the block too), span and ICV length; a flipped bit fails only its own span', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...HASHES),
        fc.uint8Array({ minLength: 0, maxLength: 200 }),
        fc.array(fc.nat({ max: 1600 }), { minLength: 1, maxLength: 12 }),
        fc.nat(),
        (h, key, lens, pick) => {
          const icv = 12 + (pick % (h.len - 11));
          const hm = new PreparedHmac(h.hash, key, h.block, h.len, provider);
          expect(hm.batched).toBe(provider !== undefined);
          // spans laid out with headroom in front (the JS path needs it), ICV slot after each
          let total = 0;
          for (const l of lens) total += h.block + l + icv;
          const buf = randomBytes(total);
          const spans = new Uint32Array(2 * lens.length);
          let pos = 0;
          lens.forEach((l, k) => {
            spans[2 * k] = pos + h.block;
            spans[2 * k + 1] = pos + h.block + l;
            pos += h.block + l + icv;
          });
          const msgs = lens.map((_, k) => Buffer.from(buf.subarray(spans[2 * k]!, spans[2 * k + 1]!)));
          hm.signMany(buf, spans, lens.length, icv);
          msgs.forEach((m, k) => {
            const want = createHmac(h.hash, key).update(m).digest().subarray(0, icv);
            expect(buf.subarray(spans[2 * k + 1]!, spans[2 * k + 1]! + icv).equals(want)).toBe(true);
          });
          const ok = new Uint8Array(lens.length);
          hm.verifyMany(buf, spans, lens.length, icv, ok);
          expect([...ok]).toEqual(lens.map(() => 1));
          const bad = pick % lens.length;
          const at = spans[2 * bad + 1]! + (pick % icv);
          buf[at]! ^= 1 << (pick % 8);
          hm.verifyMany(buf, spans, lens.length, icv, ok);
          expect([...ok]).toEqual(lens.map((_, k) => (k === bad ? 0 : 1)));
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe.skipIf(!NATIVE)('native batch HMAC refuses bad arguments', () => {
  it('spans outside the buffer, an ICV longer than the hash, an unknown hash', () => {
    const n = NATIVE!;
    const k = n.hmacKey('sha1', Buffer.alloc(20, 1));
    const buf = Buffer.alloc(100);
    const ok = new Uint8Array(4);
    expect(() => n.hmacBatch(k, buf, new Uint32Array([0, 95]), 1, 12, true, ok)).toThrow(RangeError);
    expect(() => n.hmacBatch(k, buf, new Uint32Array([50, 40]), 1, 12, true, ok)).toThrow(RangeError);
    expect(() => n.hmacBatch(k, buf, new Uint32Array([0, 10]), 2, 12, true, ok)).toThrow(RangeError);
    expect(() => n.hmacBatch(k, buf, new Uint32Array([0, 10]), 1, 21, true, ok)).toThrow(RangeError);
    expect(() => n.hmacKey('md5', Buffer.alloc(16))).toThrow(TypeError);
    expect(n.hmacBatch(k, buf, new Uint32Array([0, 10]), 1, 12, false, new Uint8Array(0))).toBe(1);
  });
});

type Crypto = { hmacBatch?: HmacBatchProvider | undefined; gcmBatch?: GcmBatchProvider | undefined; cbcBatch?: CbcBatchProvider | undefined };
const JS: Crypto = {};
const BATCHED: Crypto | undefined = NATIVE && nativeGcm() ? { hmacBatch: NATIVE, gcmBatch: nativeGcm(), cbcBatch: nativeCbc() } : undefined;
/** [server, client]: every pairing of per-packet node:crypto and the native batch, so each side is checked against the other. */
const PAIRS: [string, Crypto, Crypto][] = [['node:crypto both', JS, JS], ...(BATCHED ? ([['native server, node:crypto client', BATCHED, JS], ['node:crypto server, native client', JS, BATCHED], ['native both', BATCHED, BATCHED]] as [string, Crypto, Crypto][]) : [])];

describe.each(PAIRS)('engine with the batch checked in one call (%s)', (_name, serverCrypto, clientCrypto) => {
  it.each(['aes128-sha1', 'aes256-sha256', 'aes256-sha384', 'aes256-sha512', 'aes128gcm16', 'aes256gcm16'])('%s: forged and duplicate packets inside a batch are dropped, their neighbours delivered once, in order', (name) => {
    const { ours, theirs } = saPair(name);
    const counters = new Counters();
    const server = new EspEngine({ counters, ...serverCrypto });
    server.addSa(ours);
    const client = new EspEngine(clientCrypto);
    client.addSa(theirs);
    const payloads = Array.from({ length: 12 }, (_, i) => Buffer.alloc(40 + 37 * i, i + 1));
    const { sends } = client.encryptBatch(payloads.map((payload) => ({ saId: theirs.id, innerDstPort: 1701, payload })), 0);
    const batch: EspInbound[] = sends.map((s) => ({ data: Buffer.from(s.data), from: ours.peer }));
    batch[3]!.data[batch[3]!.data.length - 1]! ^= 0x80; // forged ICV
    batch[7]!.data[30]! ^= 0x01; // forged ciphertext
    batch.splice(9, 0, { data: Buffer.from(sends[5]!.data), from: ours.peer }); // a duplicate of packet 5
    const r = server.decryptBatch(batch, 0);
    const want = payloads.filter((_, i) => i !== 3 && i !== 7);
    expect(r.delivered.map((d) => Buffer.from(d.payload))).toEqual(want);
    expect(counters.get('esp.in.drop.bad-icv')).toBe(2);
    expect(counters.get('esp.in.drop.replay-dup')).toBe(1);
    // the forged packets did not move the window: their genuine copies still go through
    const again = server.decryptBatch([sends[3]!, sends[7]!].map((s) => ({ data: Buffer.from(s.data), from: ours.peer })), 0);
    expect(again.delivered.map((d) => Buffer.from(d.payload))).toEqual([payloads[3], payloads[7]]);
    // and back: the server's sends open on the client
    const back = server.encryptBatch(payloads.map((payload) => ({ saId: ours.id, innerDstPort: 1701, payload })), 0);
    const opened = client.decryptBatch(back.sends.map((s) => ({ data: s.data, from: theirs.peer })), 0);
    expect(opened.delivered.map((d) => Buffer.from(d.payload))).toEqual(payloads);
  });
});

describe.skipIf(!nativeGcm())('native batch AES-GCM refuses bad arguments', () => {
  it('records outside the buffers, wrong key or salt sizes', () => {
    const g = nativeGcm()!;
    expect(() => g.gcmKey(Buffer.alloc(20), Buffer.alloc(4), true)).toThrow(RangeError);
    expect(() => g.gcmKey(Buffer.alloc(16), Buffer.alloc(3), true)).toThrow(RangeError);
    const k = g.gcmKey(Buffer.alloc(16, 1), Buffer.alloc(4, 2), false);
    const buf = Buffer.alloc(64);
    const ok = new Uint8Array(1);
    expect(() => g.gcmBatch(k, buf, buf, new Uint32Array([0, 8, 16, 40, 16, 56]), 1, ok)).toThrow(RangeError);
    expect(() => g.gcmBatch(k, buf, buf, new Uint32Array([60, 8, 16, 8, 16, 24]), 1, ok)).toThrow(RangeError);
    expect(() => g.gcmBatch(k, buf, buf, new Uint32Array([0, 8, 16, 8, 16, 24]), 1, new Uint8Array(0))).toThrow(RangeError);
    // an all-zero "packet" is not authentic: refused, its output zeroed
    const out = Buffer.alloc(64, 0xaa);
    expect(g.gcmBatch(k, buf, out, new Uint32Array([0, 8, 16, 8, 16, 24]), 1, ok)).toBe(0);
    expect(ok[0]).toBe(0);
    expect(out.subarray(16, 24).equals(Buffer.alloc(8))).toBe(true);
  });
});

/**
 * Records of `blockCounts` blocks each after a random IV, with `gap` * 3 random bytes before
 * each: the buffer in the clear and with every record CBC-encrypted by createCipheriv.
 */
function cbcRecords(keyLen: number, blockCounts: number[], gap: number): { key: Buffer; recs: Uint32Array; plain: Buffer; cipher: Buffer } {
  const key = randomBytes(keyLen);
  const recs: number[] = [];
  const plain: Buffer[] = [];
  const cipher: Buffer[] = [];
  let at = 0;
  for (const blocks of blockCounts) {
    const iv = randomBytes(16);
    const p = randomBytes(16 * blocks);
    const filler = randomBytes(gap * 3);
    const ci = createCipheriv(keyLen === 16 ? 'aes-128-cbc' : 'aes-256-cbc', key, iv);
    ci.setAutoPadding(false);
    plain.push(filler, iv, p);
    cipher.push(filler, iv, ci.update(p), ci.final());
    at += filler.length;
    recs.push(at, 16 + p.length);
    at += 16 + p.length;
  }
  return { key, recs: Uint32Array.from(recs), plain: Buffer.concat(plain), cipher: Buffer.concat(cipher) };
}

describe.skipIf(!nativeCbc()?.cbcKey(Buffer.alloc(16)))('native interleaved AES-CBC encryption (native/cbc.c)', () => {
  it('equals createCipheriv record by record, for AES-128 and AES-256, any number of records of any block count, IVs in place; decryption in place turns it back', () => {
    const c = nativeCbc()!;
    fc.assert(
      fc.property(fc.constantFrom(16, 32), fc.array(fc.nat({ max: 100 }), { minLength: 0, maxLength: 20 }), fc.nat({ max: 5 }), (keyLen, blockCounts, gap) => {
        const r = cbcRecords(keyLen, blockCounts, gap);
        const buf = Buffer.from(r.plain);
        expect(c.cbcEncryptBatch(c.cbcKey(r.key)!, buf, r.recs, blockCounts.length)).toBe(blockCounts.length);
        expect(buf.equals(r.cipher)).toBe(true);
        // and cbcDecryptBatch (native/cbc.c's in-place decryption) turns every record back; IVs and the bytes between records untouched
        expect(c.cbcDecryptBatch(c.cbcDecryptKey(r.key)!, buf, r.recs, blockCounts.length)).toBe(blockCounts.length);
        expect(buf.equals(r.plain)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('makeIv: each record gets its own IV (never the same twice, across batches and keys) and opens with it (createDecipheriv, and cbcDecryptBatch)', () => {
    const c = nativeCbc()!;
    const seen = new Set<string>();
    for (const keyLen of [16, 32, 16]) {
      const key = randomBytes(keyLen);
      const k = c.cbcKey(key)!;
      for (let batch = 0; batch < 5; batch++) {
        const plains = Array.from({ length: 9 }, (_, i) => randomBytes(16 * (1 + i * 5)));
        const recs: number[] = [];
        let at = 0;
        for (const p of plains) {
          recs.push(at, 16 + p.length);
          at += 16 + p.length;
        }
        const buf = Buffer.concat(plains.flatMap((p) => [Buffer.alloc(16), p]));
        c.cbcEncryptBatch(k, buf, Uint32Array.from(recs), plains.length, true);
        plains.forEach((p, i) => {
          const iv = buf.subarray(recs[2 * i]!, recs[2 * i]! + 16);
          expect(iv.equals(Buffer.alloc(16))).toBe(false);
          seen.add(iv.toString('hex'));
          const d = createDecipheriv(keyLen === 16 ? 'aes-128-cbc' : 'aes-256-cbc', key, iv);
          d.setAutoPadding(false);
          expect(Buffer.concat([d.update(buf.subarray(recs[2 * i]! + 16, recs[2 * i]! + recs[2 * i + 1]!)), d.final()])).toEqual(p);
        });
        // the addon's own in-place decryption opens the batch as well
        c.cbcDecryptBatch(c.cbcDecryptKey(key)!, buf, Uint32Array.from(recs), plains.length);
        plains.forEach((p, i) => expect(buf.subarray(recs[2 * i]! + 16, recs[2 * i]! + recs[2 * i + 1]!)).toEqual(p));
      }
    }
    expect(seen.size).toBe(3 * 5 * 9);
  });

  it('refuses records outside the buffer or not an IV and whole blocks, and other key sizes', () => {
    const c = nativeCbc()!;
    expect(c.cbcKey(Buffer.alloc(24))).toBeUndefined();
    expect(c.cbcKey(Buffer.alloc(15))).toBeUndefined();
    const k = c.cbcKey(Buffer.alloc(16, 7))!;
    const buf = Buffer.alloc(64, 1);
    expect(() => c.cbcEncryptBatch(k, buf, new Uint32Array([32, 48]), 1)).toThrow(RangeError);
    expect(() => c.cbcEncryptBatch(k, buf, new Uint32Array([0, 40]), 1)).toThrow(RangeError);
    expect(() => c.cbcEncryptBatch(k, buf, new Uint32Array([0, 8]), 1)).toThrow(RangeError);
    expect(() => c.cbcEncryptBatch(k, buf, new Uint32Array([0, 32]), 2)).toThrow(RangeError);
    // a refused batch encrypts nothing, even its valid records
    expect(() => c.cbcEncryptBatch(k, buf, new Uint32Array([0, 32, 40, 48]), 2)).toThrow(RangeError);
    expect(buf.equals(Buffer.alloc(64, 1))).toBe(true);
    expect(() => c.cbcEncryptBatch({}, buf, new Uint32Array([0, 32]), 1)).toThrow(TypeError);
  });
});

describe.skipIf(!nativeCbc()?.cbcKey(Buffer.alloc(16)))('native AES-CBC decryption in place (native/cbc.c)', () => {
  it('refuses records outside the buffer or not an IV and whole blocks, and decrypts nothing then; each kind of key only where it belongs', () => {
    const c = nativeCbc()!;
    expect(c.cbcDecryptKey(Buffer.alloc(24))).toBeUndefined();
    const k = c.cbcDecryptKey(Buffer.alloc(16, 7))!;
    const enc = c.cbcKey(Buffer.alloc(16, 7))!;
    const buf = Buffer.alloc(64, 1);
    expect(() => c.cbcDecryptBatch(k, buf, new Uint32Array([32, 48]), 1)).toThrow(RangeError);
    expect(() => c.cbcDecryptBatch(k, buf, new Uint32Array([0, 40]), 1)).toThrow(RangeError);
    expect(() => c.cbcDecryptBatch(k, buf, new Uint32Array([0, 8]), 1)).toThrow(RangeError);
    expect(() => c.cbcDecryptBatch(k, buf, new Uint32Array([0, 32]), 2)).toThrow(RangeError);
    expect(() => c.cbcDecryptBatch(k, buf, new Uint32Array([0, 32, 40, 48]), 2)).toThrow(RangeError);
    expect(buf.equals(Buffer.alloc(64, 1))).toBe(true);
    expect(() => c.cbcDecryptBatch({}, buf, new Uint32Array([0, 32]), 1)).toThrow(TypeError);
    // an encryption key is not a decryption key, nor the other way round
    expect(() => c.cbcDecryptBatch(enc, buf, new Uint32Array([0, 32]), 1)).toThrow(TypeError);
    expect(() => c.cbcEncryptBatch(k, buf, new Uint32Array([0, 32]), 1)).toThrow(TypeError);
    expect(buf.equals(Buffer.alloc(64, 1))).toBe(true);
  });
});
