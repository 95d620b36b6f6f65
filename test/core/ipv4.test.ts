import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { formatIPv4, parseIPv4 } from '../../src/core/ipv4.js';

/** The definition: four dot-separated decimal parts 0-255, no leading zeros. */
function reference(s: string): number | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let v = 0;
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > 255) return undefined;
    v = v * 256 + Number(p);
  }
  return v >>> 0;
}

const attempt = (s: string): number | undefined => {
  try {
    return parseIPv4(s);
  } catch (e) {
    expect(e).toBeInstanceOf(RangeError);
    return undefined;
  }
};

describe('parseIPv4', () => {
  it('round-trips every address', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), (v) => {
        expect(parseIPv4(formatIPv4(v))).toBe(v);
      }));
  });

  it('accepts and refuses exactly what the definition does', () => {
    const part = fc.oneof(fc.integer({ min: 0, max: 300 }).map(String), fc.constantFrom('', '00', '01', '007', '1a', '+1', ' 1', '1 ', '-0', '256', '1000', '٣'));
    const text = fc.oneof(
      fc.array(part, { minLength: 1, maxLength: 6 }).map((p) => p.join('.')),
      fc.string(),
      fc.constantFrom('1.2.3.4.', '.1.2.3.4', '1..2.3', '1.2.3', '', '.', '....', '255.255.255.255', '0.0.0.0', '10.0.0.01'),
    );
    fc.assert(fc.property(text, (s) => {
        expect(attempt(s)).toBe(reference(s));
      }), { numRuns: 3000 });
  });
});
