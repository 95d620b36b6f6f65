import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { AddressPool } from '../../src/ppp/index.js';

describe('AddressPool', () => {
  it('a /24 with the server on .1 holds 253 clients (.2–.254); the 254th is refused', () => {
    const pool = new AddressPool('10.40.0.0/24');
    expect(pool.serverAddress).toBe('10.40.0.1');
    expect(pool.size).toBe(253);
    const got = new Set<string>();
    for (let i = 0; i < 253; i++) {
      const a = pool.allocate(`u${i}`);
      expect(a).toBeDefined();
      got.add(a!);
    }
    expect(got.size).toBe(253);
    for (const bad of ['10.40.0.0', '10.40.0.1', '10.40.0.255']) expect(got.has(bad)).toBe(false);
    expect(pool.free).toBe(0);
    expect(pool.allocate('one-too-many')).toBeUndefined();
    pool.release('10.40.0.77');
    expect(pool.free).toBe(1);
    expect(pool.allocate('one-too-many')).toBe('10.40.0.77');
  });

  it('lowest free first; a user gets its previous address back when free', () => {
    const pool = new AddressPool('10.40.0.0/24');
    expect(pool.allocate('a')).toBe('10.40.0.2');
    expect(pool.allocate('b')).toBe('10.40.0.3');
    pool.release('10.40.0.2');
    pool.release('10.40.0.3');
    expect(pool.allocate('b')).toBe('10.40.0.3');
    expect(pool.allocate('c')).toBe('10.40.0.2');
  });

  it('preferred and reserved (static) addresses', () => {
    const pool = new AddressPool('10.40.0.0/24');
    pool.setStatic(['10.40.0.2']);
    expect(pool.allocate('x')).toBe('10.40.0.3'); // static .2 skipped
    expect(pool.reserve('10.40.0.2', 'dave')).toBe(true);
    expect(pool.reserve('10.40.0.2', 'dave')).toBe(false);
    expect(pool.owner('10.40.0.2')).toBe('dave');
    for (const bad of ['10.40.0.0', '10.40.0.1', '10.40.0.255', '10.41.0.5', 'nonsense']) expect(pool.reserve(bad, 'e')).toBe(false);
    expect(pool.allocate('y', '10.40.0.200')).toBe('10.40.0.200');
    expect(pool.allocate('z', '10.40.0.200')).toBe('10.40.0.4');
  });

  it('isClientAddress excludes network, server, broadcast and outside', () => {
    const pool = new AddressPool('10.40.0.0/24');
    expect(pool.isClientAddress('10.40.0.2')).toBe(true);
    expect(pool.isClientAddress('10.40.0.254')).toBe(true);
    for (const a of ['10.40.0.0', '10.40.0.1', '10.40.0.255', '10.40.1.2', '1.2.3.4', '']) expect(pool.isClientAddress(a)).toBe(false);
  });

  it('other prefix sizes: /30 has one client, /31 is refused', () => {
    expect(new AddressPool('192.168.9.0/30').size).toBe(1);
    expect(() => new AddressPool('192.168.9.0/31')).toThrow(RangeError);
    expect(new AddressPool('172.16.0.0/20').size).toBe(4093);
  });

  it('model check: random allocate/release sequences keep leases unique and free consistent', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 20 })), { maxLength: 200 }), (ops) => {
        const pool = new AddressPool('10.0.0.0/28'); // 13 clients
        const held = new Map<string, string>();
        for (const [alloc, n] of ops) {
          if (alloc) {
            const a = pool.allocate(`u${n}`);
            if (held.size >= 13) {
              if (a !== undefined) return false;
            } else {
              if (a === undefined || held.has(a) || !pool.isClientAddress(a)) return false;
              held.set(a, `u${n}`);
            }
          } else {
            const a = [...held.keys()][n % Math.max(1, held.size)];
            if (a !== undefined) {
              pool.release(a);
              held.delete(a);
            }
          }
          if (pool.free !== 13 - held.size) return false;
        }
        return true;
      }),
      { numRuns: 200 },
    );
  });
});
