import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cookieKey } from '../../src/ike/core.js';

const cookie = fc.uint8Array({ minLength: 8, maxLength: 8 });

describe('cookieKey: the SA table key of a cookie pair', () => {
  it('is the same for cookies side by side in a header and for separate copies', () => {
    fc.assert(
      fc.property(cookie, cookie, fc.nat(16), (i, r, pad) => {
        const msg = new Uint8Array(pad + 28);
        msg.set(i, pad);
        msg.set(r, pad + 8);
        const adjacent = cookieKey(msg.subarray(pad, pad + 8), msg.subarray(pad + 8, pad + 16));
        expect(adjacent).toBe(cookieKey(Uint8Array.from(i), Uint8Array.from(r)));
        expect(adjacent).toHaveLength(16);
      }),
    );
  });

  it('tells different pairs apart (initiator and responder cookies are not interchangeable)', () => {
    fc.assert(
      fc.property(cookie, cookie, cookie, cookie, (a, b, c, d) => {
        const same = Buffer.from(a).equals(Buffer.from(c)) && Buffer.from(b).equals(Buffer.from(d));
        expect(cookieKey(a, b) === cookieKey(c, d)).toBe(same);
      }),
    );
    const x = new Uint8Array(8).fill(1);
    const y = new Uint8Array(8).fill(2);
    expect(cookieKey(x, y)).not.toBe(cookieKey(y, x));
  });

  it('a view that only looks adjacent in another buffer is not joined to it', () => {
    const a = new Uint8Array(16).fill(7);
    const b = new Uint8Array(16).fill(9);
    expect(cookieKey(a.subarray(0, 8), b.subarray(8, 16))).toBe(cookieKey(Uint8Array.from(a.subarray(0, 8)), Uint8Array.from(b.subarray(8, 16))));
  });
});
