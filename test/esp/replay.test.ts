import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EspEngine } from '../../src/esp/engine.js';
import { ReplayWindow, REPLAY_WINDOW_MIN } from '../../src/esp/replay.js';
import { craft, specOf } from './craft.js';
import { saPair } from './helpers.js';

/** RFC 4303 §3.4.3 reference: a Set of authenticated numbers and the highest one. */
class Model {
  readonly seen = new Set<number>();
  hi = 0;
  constructor(readonly w: number) {}
  check(seq: number): boolean {
    if (seq === 0) return false;
    if (seq > this.hi) return true;
    if (this.hi - seq >= this.w) return false;
    return !this.seen.has(seq);
  }
  update(seq: number): void {
    this.seen.add(seq);
    if (seq > this.hi) this.hi = seq;
  }
}

const step = fc.record({
  // relative to the current highest: mostly near it, sometimes far ahead, sometimes absolute small/huge
  rel: fc.oneof(
    fc.integer({ min: -70, max: 70 }),
    fc.integer({ min: -3000, max: 3000 }),
    fc.integer({ min: 2000, max: 100_000 }),
  ),
  abs: fc.option(fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 0xffffffff })), { freq: 10 }),
  authentic: fc.boolean(),
});

describe('ReplayWindow against the reference model', () => {
  for (const w of [64, 96, 100, 1024]) {
    it(`window ${w}`, () => {
      fc.assert(
        fc.property(fc.array(step, { maxLength: 300 }), (steps) => {
          const rw = new ReplayWindow(w);
          const m = new Model(rw.size);
          for (const s of steps) {
            const seq = s.abs ?? Math.min(0xffffffff, Math.max(0, m.hi + s.rel));
            const ok = rw.check(seq) === 'ok';
            expect(ok).toBe(m.check(seq));
            // the window moves only for authenticated packets
            if (ok && s.authentic) {
              rw.update(seq);
              m.update(seq);
            }
            expect(rw.highest).toBe(m.hi);
          }
        }),
        { numRuns: 200 },
      );
    });
  }

  it('enforces the minimum size and names verdicts', () => {
    expect(new ReplayWindow(0).size).toBe(REPLAY_WINDOW_MIN);
    expect(new ReplayWindow(-5).size).toBe(REPLAY_WINDOW_MIN);
    expect(new ReplayWindow(Number.NaN).size).toBe(1024);
    const rw = new ReplayWindow(64);
    expect(rw.check(0)).toBe('seq-zero');
    rw.update(100);
    expect(rw.check(100)).toBe('replay-dup');
    expect(rw.check(36)).toBe('replay-old');
    expect(rw.check(37)).toBe('ok');
    expect(rw.check(0xffffffff)).toBe('ok');
  });
});

describe('engine anti-replay against the reference model (forged packets never move the window)', () => {
  it('random sequence numbers, forged ICVs and batch splits', () => {
    const { ours } = saPair('aes128-sha1');
    const spec = specOf(ours);
    fc.assert(
      fc.property(
        fc.array(fc.record({ rel: fc.oneof(fc.integer({ min: -80, max: 80 }), fc.integer({ min: 100, max: 5000 })), authentic: fc.boolean(), cut: fc.boolean() }), {
          maxLength: 60,
        }),
        (steps) => {
          const e = new EspEngine({ replayWindow: 64 });
          e.addSa(ours);
          const m = new Model(64);
          let hiSent = 0;
          let batch: { data: Buffer; from: typeof ours.peer }[] = [];
          const expected: number[] = [];
          const got: number[] = [];
          const flush = (): void => {
            for (const d of e.decryptBatch(batch, 0).delivered) got.push(Buffer.from(d.payload).readUInt32BE(0));
            batch = [];
          };
          for (const s of steps) {
            const seq = Math.max(0, hiSent + s.rel);
            hiSent = Math.max(hiSent, seq);
            const payload = Buffer.alloc(4);
            payload.writeUInt32BE(seq);
            const d = craft(spec, ours.inbound, seq, { payload });
            if (!s.authentic) d[d.length - 1]! ^= 0x01;
            if (m.check(seq) && s.authentic) {
              m.update(seq);
              expected.push(seq);
            }
            batch.push({ data: d, from: ours.peer });
            if (s.cut) flush();
          }
          flush();
          expect(got).toEqual(expected);
        },
      ),
      { numRuns: 100 },
    );
  });
});
