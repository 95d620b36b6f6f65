import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Counters, RateLimiter } from '../../src/core/counters.js';
import { FakeClock } from '../../src/core/clock.js';
import { cidrContains, formatIPv4, internetChecksum, parseCidr, parseIPv4 } from '../../src/core/ipv4.js';

describe('Counters', () => {
  it('counts by name and snapshots sorted', () => {
    const c = new Counters();
    c.inc('drop.bad-icv');
    c.inc('drop.bad-icv');
    c.inc('drop.replay', 5);
    expect(c.get('drop.bad-icv')).toBe(2);
    expect(c.get('nothing')).toBe(0);
    expect(Object.keys(c.snapshot())).toEqual(['drop.bad-icv', 'drop.replay']);
  });
});

describe('RateLimiter', () => {
  it('lets a burst through per window and reports what it suppressed', () => {
    const r = new RateLimiter(2, 1000);
    expect(r.allow('k', 0)).toBe(0);
    expect(r.allow('k', 1)).toBe(0);
    expect(r.allow('k', 2)).toBe(-1);
    expect(r.allow('k', 3)).toBe(-1);
    expect(r.allow('other', 3)).toBe(0);
    expect(r.allow('k', 1000)).toBe(2);
  });
});

describe('FakeClock', () => {
  it('only moves forward', () => {
    const c = new FakeClock(5);
    expect(c.advance(10)).toBe(15);
    expect(() => c.advance(-1)).toThrow();
    expect(() => c.set(1)).toThrow();
  });
});

describe('IPv4 helpers', () => {
  it('parses and formats addresses', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (v) => {
        expect(parseIPv4(formatIPv4(v))).toBe(v);
      }),
    );
    for (const bad of ['1.2.3', '1.2.3.256', '01.2.3.4', 'a.b.c.d', '1.2.3.4.5', '']) {
      expect(() => parseIPv4(bad)).toThrow(RangeError);
    }
  });

  it('parses prefixes', () => {
    const c = parseCidr('10.40.0.0/24');
    expect(formatIPv4(c.first)).toBe('10.40.0.0');
    expect(formatIPv4(c.last)).toBe('10.40.0.255');
    expect(cidrContains(c, parseIPv4('10.40.0.77'))).toBe(true);
    expect(cidrContains(c, parseIPv4('10.40.1.1'))).toBe(false);
    expect(() => parseCidr('10.40.0.1/24')).toThrow(/host bits/);
    expect(() => parseCidr('10.40.0.0/33')).toThrow();
  });

  it('computes the RFC 1071 checksum of a known IPv4 header', () => {
    // header from RFC 1071 style worked example (checksum field zeroed): 0xb861
    const hdr = Buffer.from('450000730000400040110000c0a80001c0a800c7', 'hex');
    expect(internetChecksum(hdr)).toBe(0xb861);
  });
});
