/** Decoder fuzz: arbitrary bytes, truncations and bit flips never throw and are always accounted for. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Counters } from '../../src/core/counters.js';
import { EspEngine, type EspInbound } from '../../src/esp/engine.js';
import { craft, specOf } from './craft.js';
import { saPair } from './helpers.js';

const NAMES = ['aes128-sha1', 'aes256gcm16', '3des-sha256', 'aes256-sha384'];

function engine() {
  const counters = new Counters();
  const e = new EspEngine({ counters });
  const sas = NAMES.map((n, i) => saPair(n, `f${i}`, 0x100 + i, 0x200 + i).ours);
  for (const sa of sas) e.addSa(sa);
  return { e, counters, sas };
}

function accounted(counters: Counters, delivered: number, total: number): void {
  const drops = Object.entries(counters.snapshot())
    .filter(([k]) => k.startsWith('esp.in.drop.'))
    .reduce((a, [, v]) => a + v, 0);
  expect(drops + delivered).toBe(total);
  expect(counters.get('esp.in.internal-error')).toBe(0);
}

describe('ESP decoder fuzz', () => {
  it('arbitrary bytes, with and without a known SPI in front', () => {
    const { e, counters, sas } = engine();
    let total = 0;
    let delivered = 0;
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.option(fc.nat({ max: sas.length - 1 })), fc.uint8Array({ maxLength: 300 })), { maxLength: 20 }), fc.nat(), (items, now) => {
        const batch: EspInbound[] = items.map(([i, bytes]) => {
          const d = Buffer.from(bytes);
          if (i !== null && d.length >= 4) d.writeUInt32BE(sas[i]!.inbound.spi, 0);
          return { data: d, from: { address: '192.0.2.5', port: 4500 } };
        });
        const r = e.decryptBatch(batch, now);
        total += batch.length;
        delivered += r.delivered.length;
        expect(r.delivered).toHaveLength(0); // forging an ICV by chance: no
      }),
      { numRuns: 300 },
    );
    accounted(counters, delivered, total);
  });

  it('truncations and bit flips of valid packets: only intact packets are delivered', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            sa: fc.nat({ max: NAMES.length - 1 }),
            size: fc.integer({ min: 0, max: 600 }),
            cut: fc.option(fc.nat()),
            flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })), { maxLength: 3 }),
          }),
          { minLength: 1, maxLength: 25 },
        ),
        (items) => {
          const { e, counters, sas } = engine();
          const seqs = sas.map(() => 0);
          let intact = 0;
          const batch: EspInbound[] = items.map((it) => {
            const sa = sas[it.sa]!;
            let d = Buffer.from(craft(specOf(sa), sa.inbound, ++seqs[it.sa]!, { payload: Buffer.alloc(it.size, 0x33) }));
            const original = Buffer.from(d);
            for (const [at, bit] of it.flips) d[at % d.length]! ^= 1 << bit;
            if (it.cut !== null) d = d.subarray(0, it.cut % (d.length + 1));
            if (d.equals(original)) intact++;
            return { data: d, from: sa.peer };
          });
          const r = e.decryptBatch(batch, 0);
          expect(r.delivered).toHaveLength(intact);
          accounted(counters, r.delivered.length, batch.length);
        },
      ),
      { numRuns: 150 },
    );
  });
});
