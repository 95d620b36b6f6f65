import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReplayWindow, REPLAY_WINDOW_MIN } from '../../src/esp/replay.js';

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
