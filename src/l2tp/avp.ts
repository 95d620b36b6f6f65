import { DecodeError, Reader } from '../core/index.js';
import { AvpType } from './constants.js';
import { hide, hiddenSubformat, unhide } from './hidden.js';

/**
 * AVP, RFC 2661 §4.1:
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |M|H| rsvd  |      Length       |           Vendor ID           |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |         Attribute Type        |        Attribute Value...
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Length (10 bits) counts the whole AVP, so it is at least 6 and every AVP
 * consumes at least 6 bytes (xl2tpd PR #93: length 0 looped forever).
 */
export const AVP_FLAG_M = 0x8000;
export const AVP_FLAG_H = 0x4000;
export const AVP_RESERVED_MASK = 0x3c00;
export const AVP_LENGTH_MASK = 0x03ff;
export const AVP_HEADER_LENGTH = 6;
export const AVP_MAX_LENGTH = 0x3ff;

export interface Avp {
  mandatory: boolean;
  hidden: boolean;
  /** The 4 reserved bits; non-zero makes the AVP unrecognised (RFC 2661 §4.1). */
  reserved: number;
  vendorId: number;
  type: number;
  /** The attribute value, deciphered when the AVP was hidden. */
  value: Uint8Array;
  /** Offset of the AVP in the decoded buffer. */
  offset: number;
}

/**
 * Decode every AVP of a control message payload. Hidden AVPs (§4.3) are
 * deciphered with `secret` and the last Random Vector seen before them; the
 * deciphered length prefix is bounds-checked, never trusted (accel-ppp
 * CVE-2020-15173). Throws DecodeError.
 */
export function decodeAvps(payload: Uint8Array, secret?: Uint8Array): Avp[] {
  const r = new Reader(payload);
  const out: Avp[] = [];
  let randomVector: Uint8Array | undefined;
  while (r.remaining > 0) {
    const offset = r.offset;
    const flags = r.u16('AVP flags');
    const length = flags & AVP_LENGTH_MASK;
    if (length < AVP_HEADER_LENGTH) throw new DecodeError(`AVP length ${length} below 6`, offset, 'avp-length');
    if (length - 2 > r.remaining) throw new DecodeError(`AVP length ${length} past the message end`, offset, 'avp-length');
    const vendorId = r.u16('vendor id');
    const type = r.u16('attribute type');
    let value = r.bytes(length - AVP_HEADER_LENGTH, 'AVP value');
    const hidden = (flags & AVP_FLAG_H) !== 0;
    if (hidden) {
      if (vendorId === 0 && (type === AvpType.MessageType || type === AvpType.RandomVector)) {
        throw new DecodeError('Message Type and Random Vector cannot be hidden', offset, 'hidden-forbidden');
      }
      if (!secret || secret.length === 0) throw new DecodeError('hidden AVP but no tunnel secret', offset, 'hidden-no-secret');
      if (!randomVector) throw new DecodeError('hidden AVP without a preceding Random Vector', offset, 'hidden-no-random-vector');
      if (value.length < 2) throw new DecodeError('hidden AVP too short for its length prefix', offset, 'hidden-length');
      const plain = unhide(type, value, secret, randomVector);
      const original = plain.readUInt16BE(0);
      if (original > plain.length - 2) {
        throw new DecodeError(`hidden AVP declares ${original} bytes, holds ${plain.length - 2}`, offset, 'hidden-length');
      }
      value = plain.subarray(2, 2 + original);
    } else if (vendorId === 0 && type === AvpType.RandomVector) {
      if (value.length === 0) throw new DecodeError('empty Random Vector', offset, 'avp-length');
      randomVector = value;
    }
    out.push({
      mandatory: (flags & AVP_FLAG_M) !== 0,
      hidden,
      reserved: (flags & AVP_RESERVED_MASK) >>> 10,
      vendorId,
      type,
      value,
      offset,
    });
  }
  return out;
}

export interface AvpSpec {
  type: number;
  value: Uint8Array;
  mandatory?: boolean;
  vendorId?: number;
  /** Hide with this secret and Random Vector (RFC 2661 §4.3), with optional padding. */
  hide?: { secret: Uint8Array; randomVector: Uint8Array; padding?: Uint8Array };
  /** Raw reserved bits (tests only). */
  reserved?: number;
}

/** Encode one AVP. Throws RangeError when it would not fit the 10-bit Length. */
export function encodeAvp(a: AvpSpec): Buffer {
  let value: Uint8Array = a.value;
  if (a.hide) value = hide(a.type, hiddenSubformat(a.value, a.hide.padding), a.hide.secret, a.hide.randomVector);
  const length = AVP_HEADER_LENGTH + value.length;
  if (length > AVP_MAX_LENGTH) throw new RangeError(`AVP of ${length} bytes exceeds 1023`);
  const out = Buffer.alloc(length);
  let flags = length;
  if (a.mandatory) flags |= AVP_FLAG_M;
  if (a.hide) flags |= AVP_FLAG_H;
  flags |= ((a.reserved ?? 0) & 0xf) << 10;
  out.writeUInt16BE(flags, 0);
  out.writeUInt16BE((a.vendorId ?? 0) & 0xffff, 2);
  out.writeUInt16BE(a.type & 0xffff, 4);
  out.set(value, 6);
  return out;
}

export function encodeAvps(avps: readonly AvpSpec[]): Buffer {
  return Buffer.concat(avps.map(encodeAvp));
}
