import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Counters, DropLimiter, RateLimiter } from '../../src/core/counters.js';
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

describe('RateLimiter when its key table is full', () => {
  it('forgets the oldest key, not all of them (a full table must not let every key through again)', () => {
    const r = new RateLimiter(1, 1000, 3);
    for (const k of ['a', 'b', 'c']) expect(r.allow(k, 0)).toBe(0);
    expect(r.allow('d', 1)).toBe(0); // 'a' goes
    expect(r.allow('b', 2)).toBe(-1);
    expect(r.allow('c', 2)).toBe(-1);
    expect(r.allow('d', 2)).toBe(-1);
  });
});

describe('DropLimiter', () => {
  it('one reason from 10 000 random sources: at most perReason lines per window, the rest counted and reported', () => {
    const d = new DropLimiter(20, 5, 10_000, 4096);
    let lines = 0;
    for (let n = 0; n < 10_000; n++) if (d.allow('decode.bad-length', `10.0.${n >> 8}.${n & 255}`, n) >= 0) lines++;
    expect(lines).toBe(20);
    expect(d.size.sources).toBeLessThanOrEqual(4096);
    // next window: the first line reports how many were suppressed
    expect(d.allow('decode.bad-length', '192.0.2.1', 20_000)).toBe(9980);
    expect(d.allow('decode.bad-length', '192.0.2.1', 20_001)).toBe(0);
  });

  it('one noisy source gets perSource lines; others with the same reason still get theirs', () => {
    const d = new DropLimiter(20, 5, 1000);
    const got = Array.from({ length: 10 }, (_, k) => d.allow('r', '192.0.2.1', k));
    expect(got.filter((v) => v >= 0)).toHaveLength(5);
    expect(d.allow('r', '192.0.2.2', 11)).toBe(5);
    expect(d.allow('other', '192.0.2.1', 12)).toBe(0);
  });

  it('reasons are bounded: past maxReasons they share one budget', () => {
    const d = new DropLimiter(2, 100, 1000, 100, 4);
    let lines = 0;
    for (let n = 0; n < 100; n++) if (d.allow(`reason-${n}`, undefined, 0) >= 0) lines++;
    expect(lines).toBe(4 + 2); // one line for each of the first four, two for all the others together
    expect(d.size.reasons).toBe(5);
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
