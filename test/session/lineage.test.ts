import { describe, expect, it } from 'vitest';
import { Lineages } from '../../src/session/lineage.js';

const A = { address: '198.51.100.7', port: 4500 };
const B = { address: '198.51.100.8', port: 4500 };

describe('Lineages: which lineage a new IKE SA joins', () => {
  it('a Phase 1 rekey (same endpoint and identity, old SA alive) continues the lineage; another identity or endpoint starts its own', () => {
    const ls = new Lineages();
    const l1 = ls.ikeUp('ike-1', A, 'alice');
    expect(ls.ikeUp('ike-2', A, 'alice')).toBe(l1);
    expect(ls.ikeUp('ike-3', A, 'bob')).not.toBe(l1);
    expect(ls.ikeUp('ike-4', B, 'alice')).not.toBe(l1);
    expect(ls.ikeUp('ike-5', { ...A, port: 4501 }, 'alice')).not.toBe(l1);
    expect(ls.size).toBe(4);
  });

  it('a lineage with only routes left is not continued, and a forgotten one is gone from the index', () => {
    const ls = new Lineages();
    const l1 = ls.childUp('child-1', 'ike-1', A, 'alice');
    const r = ls.addRoute(l1, 1701);
    ls.ikeDown('ike-1');
    ls.childDown('child-1');
    // routes only: a new IKE SA from the same place is another client (or the same one anew)
    const l2 = ls.ikeUp('ike-2', A, 'alice');
    expect(l2).not.toBe(l1);
    ls.removeRoute(r);
    expect(ls.size).toBe(1);
    ls.ikeDown('ike-2');
    expect(ls.size).toBe(0);
    const l3 = ls.ikeUp('ike-3', A, 'alice');
    expect(l3.id).not.toBe(l1.id);
    expect(l3.id).not.toBe(l2.id);
    expect(ls.ikeUp('ike-4', A, 'alice')).toBe(l3);
  });

  it('the oldest live lineage of an identity is the one continued', () => {
    const ls = new Lineages();
    const l1 = ls.ikeUp('ike-1', A, 'alice');
    ls.ikeDown('ike-1'); // forgotten: nothing else holds it
    const l2 = ls.ikeUp('ike-2', A, 'alice');
    expect(l2).not.toBe(l1);
    expect(ls.ikeUp('ike-3', A, 'alice')).toBe(l2);
  });
});
