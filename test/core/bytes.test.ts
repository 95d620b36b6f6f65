import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Reader, Writer } from '../../src/core/bytes.js';
import { DecodeError } from '../../src/core/errors.js';

describe('Reader', () => {
  it('reads big-endian integers', () => {
    const r = new Reader(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 0xff, 0xff, 0xff, 0xff]));
    expect(r.u8()).toBe(1);
    expect(r.u16()).toBe(0x0203);
    expect(r.u32()).toBe(0x04050607);
    expect(r.u32()).toBe(0xffffffff);
    expect(r.remaining).toBe(0);
  });

  it('throws DecodeError with the offset when truncated', () => {
    const r = new Reader(Uint8Array.from([1, 2, 3]));
    r.u16();
    try {
      r.u16('length');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(DecodeError);
      expect((e as DecodeError).offset).toBe(2);
      expect((e as DecodeError).reason).toBe('truncated');
      expect((e as DecodeError).message).toContain('length');
    }
    // a failed read does not move the position
    expect(r.offset).toBe(2);
  });

  it('sub-readers are confined to their window', () => {
    const r = new Reader(Uint8Array.from([0, 1, 2, 3, 4, 5]));
    r.u8();
    const s = r.sub(2);
    expect(s.u16()).toBe(0x0102);
    expect(() => s.u8()).toThrow(DecodeError);
    expect(r.u8()).toBe(3);
  });

  it('rejects a window outside the buffer', () => {
    expect(() => new Reader(new Uint8Array(4), 2, 6)).toThrow(DecodeError);
  });

  it('never throws anything but DecodeError on arbitrary reads', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 40 }), (buf, ops) => {
        const r = new Reader(buf);
        for (const op of ops) {
          try {
            if (op === 0) r.u8();
            else if (op === 1) r.u16();
            else if (op === 2) r.u32();
            else if (op === 3) r.bytes(7);
            else if (op === 4) r.sub(3);
            else r.skip(-1);
          } catch (e) {
            expect(e).toBeInstanceOf(DecodeError);
          }
          expect(r.offset).toBeLessThanOrEqual(buf.length);
        }
      }),
    );
  });
});

describe('Writer', () => {
  it('round-trips through Reader', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffffffff }), fc.uint8Array({ maxLength: 600 }), (a, b, c, d) => {
        const w = new Writer(1);
        w.u8(a).u16(b).u32(c).bytes(d);
        const out = w.finish();
        expect(out.length).toBe(7 + d.length);
        const r = new Reader(out);
        expect(r.u8()).toBe(a);
        expect(r.u16()).toBe(b);
        expect(r.u32()).toBe(c);
        expect(Buffer.from(r.rest())).toEqual(Buffer.from(d));
      }),
    );
  });

  it('patches reserved length fields', () => {
    const w = new Writer();
    const at = w.reserve(2);
    w.bytes(Buffer.from('abc'));
    w.patchU16(at, w.length);
    expect([...w.finish()]).toEqual([0, 5, 97, 98, 99]);
  });
});
