import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DecodeError } from '../../src/core/errors.js';
import { decodeControl, decodeFrame, decodeOptions, encodeControl, encodeControlFrame, encodeFrame, encodeOption } from '../../src/ppp/index.js';

const onlyDecodeError = (f: () => unknown): boolean => {
  try {
    f();
    return true;
  } catch (e) {
    return e instanceof DecodeError;
  }
};

describe('PPP frame codec (RFC 1661 §2, RFC 2661 §3.1)', () => {
  it('with and without FF 03, 2-byte and compressed 1-byte protocol', () => {
    expect(decodeFrame(Buffer.from('ff03c0210102', 'hex')).protocol).toBe(0xc021);
    expect(decodeFrame(Buffer.from('c0210102', 'hex')).protocol).toBe(0xc021);
    const pfc = decodeFrame(Buffer.from('ff032145', 'hex'));
    expect(pfc.protocol).toBe(0x21);
    expect(Buffer.from(pfc.info).toString('hex')).toBe('45');
    expect(decodeFrame(Buffer.from('2145', 'hex')).protocol).toBe(0x21);
  });

  it('rejects an even protocol low byte, and empty frames', () => {
    expect(() => decodeFrame(Buffer.from('ff03c022', 'hex'))).toThrow(DecodeError);
    expect(() => decodeFrame(Buffer.alloc(0))).toThrow(DecodeError);
    expect(() => decodeFrame(Buffer.from('ff03', 'hex'))).toThrow(DecodeError);
  });

  it('round trip: frame', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0x7f }), fc.integer({ min: 0, max: 0x7f }), fc.uint8Array({ maxLength: 64 }), (hi, lo, info) => {
        const proto = ((hi << 1) << 8) | ((lo << 1) | 1);
        const d = decodeFrame(encodeFrame(proto, info));
        return d.protocol === proto && Buffer.from(d.info).equals(Buffer.from(info));
      }),
      { numRuns: 300 },
    );
  });

  it('round trip: control packet and options; padding after Length ignored', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 255 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 20 })), { maxLength: 8 }),
        fc.uint8Array({ maxLength: 5 }),
        (code, id, opts, pad) => {
          const data = Buffer.concat(opts.map(([t, d]) => encodeOption(t, d)));
          const pkt = Buffer.concat([encodeControl(code, id, data), pad]);
          const c = decodeControl(pkt);
          const back = decodeOptions(c.data);
          const f = encodeControlFrame(0xc021, code, id, data);
          return (
            c.code === code &&
            c.id === id &&
            Buffer.from(c.data).equals(data) &&
            back.length === opts.length &&
            back.every((o, i) => o.type === opts[i]![0] && Buffer.from(o.data).equals(Buffer.from(opts[i]![1]))) &&
            f.subarray(4).equals(encodeControl(code, id, data))
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it('control Length < 4 or beyond the data is a DecodeError', () => {
    expect(() => decodeControl(Buffer.from('01010003', 'hex'))).toThrow(DecodeError);
    expect(() => decodeControl(Buffer.from('0101000800', 'hex'))).toThrow(DecodeError);
    expect(() => decodeControl(Buffer.from('0101', 'hex'))).toThrow(DecodeError);
  });

  it('option Length 0 or 1 or past the end is a DecodeError (no infinite loop)', () => {
    expect(() => decodeOptions(Buffer.from('0100', 'hex'))).toThrow(DecodeError);
    expect(() => decodeOptions(Buffer.from('0101', 'hex'))).toThrow(DecodeError);
    expect(() => decodeOptions(Buffer.from('010405', 'hex'))).toThrow(DecodeError);
    expect(() => decodeOptions(Buffer.from('01', 'hex'))).toThrow(DecodeError);
  });

  it('arbitrary bytes: decoders throw nothing but DecodeError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => onlyDecodeError(() => decodeFrame(b)) && onlyDecodeError(() => decodeControl(b)) && onlyDecodeError(() => decodeOptions(b))),
      { numRuns: 500 },
    );
  });
});
