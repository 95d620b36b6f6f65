import { describe, expect, it } from 'vitest';
import { Counters } from '../../src/core/counters.js';

describe('Counters', () => {
  it('a prefixed view counts into its parent under the prefix, the same after its name cache is warm', () => {
    const c = new Counters();
    const v = c.view('ppp.');
    for (let i = 0; i < 3; i++) v.inc('drop.bad');
    v.inc('drop.bad', 4);
    expect(c.get('ppp.drop.bad')).toBe(7);
    expect(v.get('drop.bad')).toBe(7);
    expect(v.snapshot()).toEqual({ 'drop.bad': 7 });
    // a view of a view
    v.view('x.').inc('y');
    expect(c.snapshot()).toEqual({ 'ppp.drop.bad': 7, 'ppp.x.y': 1 });
  });

  it('sampled counters are read when asked, in snapshots sorted with the rest', () => {
    const c = new Counters();
    let n = 1;
    c.sampled('tun.write.coalesced', () => n);
    c.inc('a.first');
    c.inc('z.last', 2);
    expect(c.snapshot()).toEqual({ 'a.first': 1, 'tun.write.coalesced': 1, 'z.last': 2 });
    n = 40;
    expect(c.get('tun.write.coalesced')).toBe(40);
    expect(Object.keys(c.snapshot())).toEqual(['a.first', 'tun.write.coalesced', 'z.last']);
  });
});
