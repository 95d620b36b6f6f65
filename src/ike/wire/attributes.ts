import { Reader, Writer } from '../../core/bytes.js';

/**
 * Data attributes (RFC 2408 §3.3):
 *  0                   1                   2                   3
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * !A!       Attribute Type        !    AF=0  Attribute Length     !
 * !F!                             !    AF=1  Attribute Value      !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * .                   AF=0  Attribute Value                       .
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * AF=1 is the basic (TV) form with a 16-bit value; AF=0 the variable (TLV) form.
 */
export type DataAttribute =
  | { type: number; basic: true; value: number }
  | { type: number; basic: false; bytes: Buffer };

export function decodeAttributes(r: Reader): DataAttribute[] {
  const out: DataAttribute[] = [];
  while (r.remaining > 0) {
    const t = r.u16('attribute type');
    if (t & 0x8000) {
      out.push({ type: t & 0x7fff, basic: true, value: r.u16('attribute value') });
    } else {
      const len = r.u16('attribute length');
      out.push({ type: t, basic: false, bytes: r.copy(len, 'attribute value') });
    }
  }
  return out;
}

export function encodeAttributes(attrs: readonly DataAttribute[], w: Writer): void {
  for (const a of attrs) {
    if (a.basic) {
      w.u16(0x8000 | (a.type & 0x7fff)).u16(a.value);
    } else {
      w.u16(a.type & 0x7fff).u16(a.bytes.length).bytes(a.bytes);
    }
  }
}

/** Basic attribute, or a variable one (life durations above 65535) when the value does not fit 16 bits. */
export function attr(type: number, value: number): DataAttribute {
  if (value >= 0 && value <= 0xffff) return { type, basic: true, value };
  const b = Buffer.alloc(4);
  b.writeUInt32BE(Math.min(value, 0xffffffff) >>> 0);
  return { type, basic: false, bytes: b };
}

/**
 * The numeric value of an attribute. A variable attribute is read as a big-endian
 * integer; values beyond 2^48 saturate to Number.MAX_SAFE_INTEGER (used only for lifetimes).
 */
export function attrNumber(a: DataAttribute): number {
  if (a.basic) return a.value;
  let v = 0;
  for (const byte of a.bytes) {
    v = v * 256 + byte;
    if (v > Number.MAX_SAFE_INTEGER / 256) return Number.MAX_SAFE_INTEGER;
  }
  return v;
}
