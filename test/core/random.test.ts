import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { randomPooled } from '../../src/core/random.js';
import { flat } from '../../src/core/flat.js';

describe('randomPooled', () => {
  it('returns the length asked for, in memory of its own, and never the same bytes twice across pool refills', () => {
    const seen = new Set<string>();
    let total = 0;
    for (let i = 0; total < 3 * 4096; i++) {
      const n = [8, 16, 32, 2, 4][i % 5]!;
      const b = randomPooled(n);
      expect(b.length).toBe(n);
      expect(b.buffer.byteLength).toBe(n); // not a slice of a shared slab
      total += n;
      if (n >= 8) {
        const h = b.toString('hex');
        expect(seen.has(h)).toBe(false);
        seen.add(h);
      }
    }
  });

  it('handed-out buffers are independent of the pool: writing one changes no later draw', () => {
    const a = randomPooled(32);
    a.fill(0);
    const b = randomPooled(32);
    expect(b.equals(Buffer.alloc(32))).toBe(false);
  });

  it('large requests come straight from the CSPRNG', () => {
    expect(randomPooled(1000).length).toBe(1000);
  });

  it('bytes are spread over all values (not a constant or a short cycle)', () => {
    const counts = new Uint32Array(256);
    for (let i = 0; i < 512; i++) for (const v of randomPooled(32)) counts[v]!++;
    // 16384 bytes: each value is expected 64 times; none is absent or more than 3x that
    expect(Math.min(...counts)).toBeGreaterThan(0);
    expect(Math.max(...counts)).toBeLessThan(192);
  });
});

describe('flat', () => {
  it('is the same string a template literal makes', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string(), fc.integer())), (parts) => {
        expect(flat(...parts)).toBe(parts.map(String).join(''));
      }),
    );
    expect(flat('192.0.2.1', ':', 4500)).toBe(`${'192.0.2.1'}:${4500}`);
  });
});
