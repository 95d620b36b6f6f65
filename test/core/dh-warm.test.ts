import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { ALL_DH_GROUPS, generateKeyPair, warmDhGroups } from '../../src/core/dh.js';

describe('warmDhGroups', () => {
  it('takes MODP, ECP and unknown ids alike; the warmed groups then agree on a shared secret', () => {
    expect(() => warmDhGroups([2, 5, 14, 19, 31, 9999])).not.toThrow();
    for (const id of [2, 14]) {
      const g = ALL_DH_GROUPS[id]!;
      const a = generateKeyPair(g, randomBytes);
      const b = generateKeyPair(g, randomBytes);
      const s1 = a.computeShared(b.publicValue);
      const s2 = b.computeShared(a.publicValue);
      expect(s1?.length).toBe(g.keLength);
      expect(s1?.equals(s2!)).toBe(true);
    }
  });
});
