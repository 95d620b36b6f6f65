import { Reader, Writer } from '../core/bytes.js';
import { DecodeError } from '../core/errors.js';
import { VENDOR_MICROSOFT, VENDOR_SPECIFIC } from './dictionary.js';

/**
 * The RADIUS packet (RFC 2865 §3):
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |     Code      |  Identifier   |            Length             |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                                                               |
 * |                         Authenticator                         |
 * |                          (16 octets)                          |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Attributes ...
 * +-+-+-+-+-+-+-+-+-+-+-+-+-
 *
 * An attribute (RFC 2865 §5): Type (1), Length (1, including these two), Value.
 * Vendor-Specific (RFC 2865 §5.26), type 26: Vendor-Id (4), then the vendor's
 * sub-attributes in the same Type/Length/Value form (RFC 2548 §2 for Microsoft).
 */

export const HEADER_LENGTH = 20;
/** RFC 2865 §3: "The maximum length is 4096." */
export const MAX_PACKET_LENGTH = 4096;
/** An attribute's Length is one octet and counts its own two. */
export const MAX_VALUE_LENGTH = 253;
/** A Microsoft sub-attribute carries 4 + 2 octets of headers more. */
export const MAX_VSA_VALUE_LENGTH = MAX_VALUE_LENGTH - 6;

/** One attribute as on the wire; vendor 0 for the standard space. */
export interface RawAttribute {
  vendor: number;
  type: number;
  value: Uint8Array;
}

export interface RadiusPacket {
  code: number;
  identifier: number;
  /** 16 octets. */
  authenticator: Uint8Array;
  attributes: RawAttribute[];
}

/**
 * Decode a datagram. Octets past Length are padding and ignored (RFC 2865 §3);
 * a Length under 20, over 4096 or over the datagram, an attribute shorter than 2 or
 * past the end, a malformed Microsoft VSA: DecodeError. A Vendor-Specific attribute
 * of another vendor whose contents are not in the usual sub-attribute form is kept
 * whole (vendor 0, type 26).
 */
export function decodePacket(datagram: Uint8Array): RadiusPacket {
  const head = new Reader(datagram);
  const code = head.u8('Code');
  const identifier = head.u8('Identifier');
  const length = head.u16('Length');
  if (length < HEADER_LENGTH || length > MAX_PACKET_LENGTH) head.fail(`Length ${length} outside 20..4096`, 'bad-length', 2);
  if (length > datagram.length) head.fail(`Length ${length} longer than the datagram (${datagram.length})`, 'bad-length', 2);
  const r = new Reader(datagram, 4, length);
  const authenticator = r.copy(16, 'Authenticator');
  const attributes: RawAttribute[] = [];
  while (r.remaining > 0) {
    const at = r.offset;
    const type = r.u8('attribute Type');
    const len = r.u8('attribute Length');
    if (len < 2) r.fail(`attribute ${type} Length ${len} < 2`, 'bad-attribute-length', at);
    const value = r.copy(len - 2, 'attribute Value');
    if (type === VENDOR_SPECIFIC) attributes.push(...decodeVendorSpecific(value, at));
    else attributes.push({ vendor: 0, type, value });
  }
  return { code, identifier, authenticator, attributes };
}

function decodeVendorSpecific(value: Buffer, at: number): RawAttribute[] {
  if (value.length < 4) throw new DecodeError(`Vendor-Specific of ${value.length} octets`, at, 'bad-vsa');
  const vendor = value.readUInt32BE(0);
  const subs: RawAttribute[] = [];
  const r = new Reader(value, 4);
  try {
    if (vendor === 0) r.fail('Vendor-Id 0', 'bad-vsa');
    if (r.remaining === 0) r.fail('Vendor-Specific without a sub-attribute', 'bad-vsa');
    while (r.remaining > 0) {
      const type = r.u8('vendor Type');
      const len = r.u8('vendor Length');
      if (len < 2) r.fail(`vendor attribute ${vendor}.${type} Length ${len} < 2`, 'bad-vsa');
      subs.push({ vendor, type, value: r.copy(len - 2, 'vendor Value') });
    }
  } catch (e) {
    // Microsoft's attributes are ours to read: malformed ones are an error. Another
    // vendor's may use another layout (RFC 2865 §5.26 only recommends this one).
    if (vendor === VENDOR_MICROSOFT || vendor === 0) throw new DecodeError(e instanceof Error ? e.message : String(e), at, 'bad-vsa');
    return [{ vendor: 0, type: VENDOR_SPECIFIC, value }];
  }
  return subs;
}

/**
 * Encode a packet; Length is computed. A vendor attribute goes in a Vendor-Specific
 * of its own. Values too long for one attribute or a packet over 4096 octets are a
 * programming error (RangeError), not a wire condition.
 */
export function encodePacket(p: RadiusPacket): Buffer {
  if (p.authenticator.length !== 16) throw new RangeError(`authenticator of ${p.authenticator.length} octets`);
  const w = new Writer(HEADER_LENGTH + 64 * p.attributes.length);
  w.u8(p.code).u8(p.identifier);
  const lenAt = w.reserve(2);
  w.bytes(p.authenticator);
  for (const a of p.attributes) encodeAttribute(w, a);
  if (w.length > MAX_PACKET_LENGTH) throw new RangeError(`RADIUS packet of ${w.length} octets > ${MAX_PACKET_LENGTH}`);
  w.patchU16(lenAt, w.length);
  return w.finish();
}

function encodeAttribute(w: Writer, a: RawAttribute): void {
  if (a.vendor === 0) {
    if (a.type < 1 || a.type > 255) throw new RangeError(`attribute type ${a.type}`);
    if (a.value.length > MAX_VALUE_LENGTH) throw new RangeError(`attribute ${a.type} value of ${a.value.length} octets > ${MAX_VALUE_LENGTH}`);
    w.u8(a.type).u8(a.value.length + 2).bytes(a.value);
    return;
  }
  if (a.type < 0 || a.type > 255) throw new RangeError(`vendor attribute type ${a.type}`);
  if (a.value.length > MAX_VSA_VALUE_LENGTH) throw new RangeError(`vendor attribute ${a.vendor}.${a.type} value of ${a.value.length} octets > ${MAX_VSA_VALUE_LENGTH}`);
  w.u8(VENDOR_SPECIFIC).u8(a.value.length + 8).u32(a.vendor).u8(a.type).u8(a.value.length + 2).bytes(a.value);
}

/** The first attribute of this vendor and type. */
export function findRaw(attrs: readonly RawAttribute[], vendor: number, type: number): RawAttribute | undefined {
  return attrs.find((a) => a.vendor === vendor && a.type === type);
}
