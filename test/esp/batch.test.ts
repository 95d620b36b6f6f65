/**
 * The batch path equals per-packet naive processing: mixed SAs, transforms
 * and sizes in one batch, with bad packets (bit flips, truncations, unknown
 * SPIs, replays) that must not corrupt their neighbours.
 */
import { createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Counters } from '../../src/core/counters.js';
import type { ChildSaUp } from '../../src/core/sa.js';
import { EspEngine, type EspInbound } from '../../src/esp/engine.js';
import { craft, naiveInner, open, specOf } from './craft.js';
import { saPair } from './helpers.js';
import { nativeCbc, nativeGcm, nativeHmac } from '../../src/io/udp-native.js';
import type { CbcBatchProvider, GcmBatchProvider, HmacBatchProvider } from '../../src/esp/hmac.js';

/** Per packet through node:crypto, and (when the addon is built) HMAC, AES-GCM and outbound AES-CBC a batch per call through the addon. */
type Crypto = { hmacBatch?: HmacBatchProvider | undefined; gcmBatch?: GcmBatchProvider | undefined; cbcBatch?: CbcBatchProvider | undefined };
const HMACS: [string, Crypto][] = [['node:crypto', {}], ...(nativeHmac() && nativeGcm() ? [['native batch', { hmacBatch: nativeHmac(), gcmBatch: nativeGcm(), cbcBatch: nativeCbc() }] as [string, Crypto]] : [])];
/**
 * Decryption also in the engine's reuse mode (decryptBatch(…, true): AES-CBC decrypted in place
 * into a buffer the engine reuses, as the pipeline runs it): several SAs of one batch must not
 * write over each other's plaintext.
 */
const DECRYPTS: [string, Crypto, boolean][] = [...HMACS.map(([n, c]) => [n, c, false] as [string, Crypto, boolean]), ...(nativeHmac() && nativeGcm() ? [['native batch, in place', { hmacBatch: nativeHmac(), gcmBatch: nativeGcm(), cbcBatch: nativeCbc() }, true] as [string, Crypto, boolean]] : [])];

const NAMES = ['aes128-sha1', 'aes256-sha256', '3des-sha1', 'aes128gcm16', 'aes192-sha1'];

interface Fixture {
  sas: ChildSaUp[];
}

function fixture(): Fixture {
  return { sas: NAMES.map((n, i) => saPair(n, `sa${i}`, 0x1000 + i, 0x2000 + i).ours) };
}

type Mut = { kind: 'ok' } | { kind: 'flip'; at: number; bit: number } | { kind: 'trunc'; by: number } | { kind: 'spi' } | { kind: 'replay' } | { kind: 'badpad' };

const mutArb: fc.Arbitrary<Mut> = fc.oneof(
  { weight: 5, arbitrary: fc.constant<Mut>({ kind: 'ok' }) },
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('trunc' as const), by: fc.integer({ min: 1, max: 40 }) }),
  fc.constant<Mut>({ kind: 'spi' }),
  fc.constant<Mut>({ kind: 'replay' }),
  fc.constant<Mut>({ kind: 'badpad' }),
);

const pktArb = fc.record({
  sa: fc.nat({ max: NAMES.length - 1 }),
  size: fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 1500 })),
  mut: mutArb,
});

describe.each(DECRYPTS)('batch decryption equals naive per-packet decryption (crypto: %s)', (_h, crypto, reuse) => {
  it('mixed SAs, sizes and bad packets in one batch', () => {
    fc.assert(
      fc.property(fc.array(pktArb, { minLength: 1, maxLength: 40 }), (pkts) => {
        const { sas } = fixture();
        const counters = new Counters();
        const engine = new EspEngine({ counters, ...crypto });
        for (const sa of sas) engine.addSa(sa);
        const seqs = sas.map(() => 0);
        const batch: EspInbound[] = [];
        for (const p of pkts) {
          const sa = sas[p.sa]!;
          const spec = specOf(sa);
          const payload = randomBytes(p.size);
          let seq = ++seqs[p.sa]!;
          if (p.mut.kind === 'replay' && seq > 1) seq = seq - 1; // a seq already used (or about to be) on this SA
          // badpad: as many padding bytes as needed (at least one), all zero instead of 1, 2, 3...
          const n = (spec.blockSize - ((8 + p.size + 2) % spec.blockSize)) % spec.blockSize || spec.blockSize;
          let d = craft(spec, sa.inbound, seq, p.mut.kind === 'badpad' ? { payload, padding: Buffer.alloc(n) } : { payload, srcPort: 1701 });
          if (p.mut.kind === 'flip') {
            d = Buffer.from(d);
            const at = p.mut.at % d.length;
            d[at]! ^= 1 << p.mut.bit;
          } else if (p.mut.kind === 'trunc') d = d.subarray(0, Math.max(0, d.length - p.mut.by));
          else if (p.mut.kind === 'spi') {
            d = Buffer.from(d);
            d.writeUInt32BE(0x7777, 0);
          }
          batch.push({ data: d, from: sa.peer });
        }
        // Reference: sequential naive processing with a Set-based replay model, grouped by SA in batch order.
        const expected = new Map<string, string[]>();
        const seen = sas.map(() => new Set<number>());
        for (const b of batch) {
          const d = Buffer.from(b.data.buffer, b.data.byteOffset, b.data.length);
          if (d.length < 8) continue;
          const i = sas.findIndex((s) => s.inbound.spi === d.readUInt32BE(0));
          if (i < 0) continue;
          const sa = sas[i]!;
          const seq = d.readUInt32BE(4);
          if (seq === 0 || seen[i]!.has(seq)) continue; // window is far larger than these sequences
          const pt = open(specOf(sa), sa.inbound, d);
          if (!pt) continue;
          seen[i]!.add(seq);
          const inner = naiveInner(pt);
          if (!inner) continue;
          const list = expected.get(sa.id) ?? [];
          list.push(inner.payload.toString('hex'));
          expected.set(sa.id, list);
        }
        const { delivered } = engine.decryptBatch(batch, 0, reuse);
        const got = new Map<string, string[]>();
        for (const x of delivered) {
          const sa = sas.find((s) => s.id === x.saId)!;
          expect(x.peer).toEqual(sa.peer);
          expect(x.innerSrcPort).toBe(1701);
          const list = got.get(x.saId) ?? [];
          list.push(Buffer.from(x.payload).toString('hex'));
          got.set(x.saId, list);
        }
        expect(got).toEqual(expected);
        // every datagram is either delivered or counted as a drop
        const drops = Object.entries(counters.snapshot())
          .filter(([k]) => k.startsWith('esp.in.drop.'))
          .reduce((a, [, v]) => a + v, 0);
        expect(drops + delivered.length).toBe(batch.length);
      }),
      { numRuns: 150 },
    );
  });
});

describe.each(HMACS)('batch CBC encryption: every packet stands alone, IVs are fresh (crypto: %s)', (_h, crypto) => {
  for (const name of ['aes128-sha1', 'aes256-sha256', '3des-sha1']) {
    it(`${name}: a naive per-packet decryptor opens every packet of a batch`, () => {
      fc.assert(
        fc.property(fc.array(fc.integer({ min: 0, max: 1500 }), { minLength: 1, maxLength: 20 }), fc.integer({ min: 1, max: 65535 }), (sizes, port) => {
          const { ours } = saPair(name);
          const spec = specOf(ours);
          const e = new EspEngine({ ...crypto });
          e.addSa(ours);
          const payloads = sizes.map((n) => randomBytes(n));
          const { sends } = e.encryptBatch(payloads.map((payload) => ({ saId: ours.id, innerDstPort: port, payload })), 0);
          expect(sends).toHaveLength(payloads.length);
          sends.forEach((s, k) => {
            const d = s.data;
            expect(d.readUInt32BE(0)).toBe(ours.outbound.spi);
            expect(d.readUInt32BE(4)).toBe(k + 1);
            const icvAt = d.length - spec.icvLen;
            expect(d.subarray(icvAt)).toEqual(createHmac(spec.hashName!, ours.outbound.authKey).update(d.subarray(0, icvAt)).digest().subarray(0, spec.icvLen));
            const dc = createDecipheriv(spec.cipherName, ours.outbound.encKey, d.subarray(8, 8 + spec.ivLen));
            dc.setAutoPadding(false);
            const pt = Buffer.concat([dc.update(d.subarray(8 + spec.ivLen, icvAt)), dc.final()]);
            // RFC 768 header: 1701 → port, length, checksum 0; RFC 4303 §2.4 monotonic padding; next header 17
            expect(pt.readUInt16BE(0)).toBe(1701);
            expect(pt.readUInt16BE(2)).toBe(port);
            expect(pt.readUInt16BE(4)).toBe(8 + payloads[k]!.length);
            expect(pt.readUInt16BE(6)).toBe(0);
            expect(pt.subarray(8, 8 + payloads[k]!.length)).toEqual(payloads[k]);
            const padLen = pt[pt.length - 2]!;
            expect(padLen).toBeLessThan(spec.blockSize);
            expect(8 + payloads[k]!.length + padLen + 2).toBe(pt.length);
            for (let i = 0; i < padLen; i++) expect(pt[8 + payloads[k]!.length + i]).toBe(i + 1);
            expect(pt[pt.length - 1]).toBe(17);
          });
        }),
        { numRuns: 60 },
      );
    });
  }

  it('IV_{k+1} is not the previous ciphertext block (TLS 1.0 chaining) and depends on fresh randomness only', () => {
    const { ours } = saPair('aes128-sha1');
    const spec = specOf(ours);
    const payloads = Array.from({ length: 16 }, (_, i) => Buffer.alloc(100 + i, i));
    const run = (random: (n: number) => Buffer): Buffer[] => {
      const e = new EspEngine({ random, ...crypto });
      e.addSa(ours);
      return e.encryptBatch(payloads.map((payload) => ({ saId: ours.id, innerDstPort: 1701, payload })), 0).sends.map((s) => s.data);
    };
    const a = run(randomBytes);
    const ivs = a.map((d) => d.subarray(8, 8 + spec.ivLen).toString('hex'));
    expect(new Set(ivs).size).toBe(a.length);
    for (let k = 1; k < a.length; k++) {
      const prev = a[k - 1]!;
      const lastBlock = prev.subarray(prev.length - spec.icvLen - 16, prev.length - spec.icvLen);
      expect(ivs[k]).not.toBe(lastBlock.toString('hex'));
    }
    // Same key, same plaintexts, same first IV but different secret chaining blocks R_k: every later IV changes,
    // so no IV is a function of what an observer saw (earlier packets) alone.
    const fixed = (fill: number) => (n: number): Buffer => {
      const b = Buffer.alloc(n, fill);
      b.fill(0x11, 0, 16); // IV_1 identical in both runs
      return b;
    };
    const x = run(fixed(0x22));
    const y = run(fixed(0x33));
    expect(x[0]!.subarray(8, 24)).toEqual(y[0]!.subarray(8, 24));
    expect(x[0]!.subarray(0, x[0]!.length)).toEqual(y[0]); // packet 1 is identical ...
    for (let k = 1; k < x.length; k++) expect(x[k]!.subarray(8, 24)).not.toEqual(y[k]!.subarray(8, 24)); // ... later IVs are not
  });
});
