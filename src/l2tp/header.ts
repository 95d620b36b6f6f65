import { DecodeError, Reader } from '../core/index.js';

/**
 * L2TP header, RFC 2661 §3.1:
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |T|L|x|x|S|x|O|P|x|x|x|x|  Ver  |          Length (opt)         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |           Tunnel ID           |           Session ID          |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |             Ns (opt)          |             Nr (opt)          |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |      Offset Size (opt)        |    Offset pad... (opt)
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * The x bits are reserved: set to 0 when sending, ignored when receiving.
 */
export const FLAG_T = 0x8000;
export const FLAG_L = 0x4000;
export const FLAG_S = 0x0800;
export const FLAG_O = 0x0200;
export const FLAG_P = 0x0100;
export const VERSION_MASK = 0x000f;
export const L2TP_VERSION = 2;

/** A control header is always T, L, S set with no offset: 12 bytes. */
export const CONTROL_HEADER_LENGTH = 12;

export interface L2tpHeader {
  /** T: control message. */
  isControl: boolean;
  /** L: the Length field is present. */
  hasLength: boolean;
  /** S: Ns and Nr are present. */
  hasSequence: boolean;
  /** O: Offset Size present. */
  hasOffset: boolean;
  /** P: priority (data messages only). */
  priority: boolean;
  version: number;
  /** Length field value when L is set. */
  length?: number;
  tunnelId: number;
  sessionId: number;
  ns?: number;
  nr?: number;
  offsetSize?: number;
  /** Start of the payload (AVPs or PPP frame) in the datagram. */
  payloadOffset: number;
  /** End of the payload: the Length field when present, else the datagram end. */
  payloadEnd: number;
}

/**
 * Decode and validate an L2TP header (RFC 2661 §3.1). Throws DecodeError:
 * 'version' for Ver ≠ 2 (including L2TPv3 and L2F), 'control-flags' for a
 * control message without L and S or with O or P, 'length' for a Length field
 * below the header size (or 12 for control) or past the datagram.
 */
export function decodeHeader(buf: Uint8Array): L2tpHeader {
  const r = new Reader(buf);
  const flags = r.u16('flags');
  const version = flags & VERSION_MASK;
  if (version !== L2TP_VERSION) throw new DecodeError(`L2TP version ${version} not supported`, 1, 'version');
  const isControl = (flags & FLAG_T) !== 0;
  const hasLength = (flags & FLAG_L) !== 0;
  const hasSequence = (flags & FLAG_S) !== 0;
  const hasOffset = (flags & FLAG_O) !== 0;
  const priority = (flags & FLAG_P) !== 0;
  if (isControl && (!hasLength || !hasSequence || hasOffset || priority)) {
    // RFC 2661 §3.1: control messages MUST have L and S set, O and P clear.
    throw new DecodeError('control message with bad L/S/O/P bits', 0, 'control-flags');
  }
  let length: number | undefined;
  if (hasLength) length = r.u16('length');
  const tunnelId = r.u16('tunnel id');
  const sessionId = r.u16('session id');
  let ns: number | undefined;
  let nr: number | undefined;
  if (hasSequence) {
    ns = r.u16('Ns');
    nr = r.u16('Nr');
  }
  let end = buf.length;
  if (length !== undefined) {
    const min = isControl ? CONTROL_HEADER_LENGTH : r.offset;
    if (length < min) throw new DecodeError(`length ${length} below header size ${min}`, 2, 'length');
    if (length > buf.length) throw new DecodeError(`length ${length} past datagram of ${buf.length}`, 2, 'length');
    end = length;
  }
  let offsetSize: number | undefined;
  if (hasOffset) {
    offsetSize = r.u16('offset size');
    if (r.offset + offsetSize > end) throw new DecodeError(`offset ${offsetSize} past the message end`, r.offset - 2, 'offset');
  }
  const payloadOffset = r.offset + (offsetSize ?? 0);
  if (payloadOffset > end) throw new DecodeError('header past the message end', r.offset, 'length');
  const h: L2tpHeader = {
    isControl,
    hasLength,
    hasSequence,
    hasOffset,
    priority,
    version,
    tunnelId,
    sessionId,
    payloadOffset,
    payloadEnd: end,
  };
  if (length !== undefined) h.length = length;
  if (ns !== undefined) h.ns = ns;
  if (nr !== undefined) h.nr = nr;
  if (offsetSize !== undefined) h.offsetSize = offsetSize;
  return h;
}

export interface HeaderFields {
  isControl: boolean;
  hasLength: boolean;
  hasSequence: boolean;
  priority?: boolean;
  tunnelId: number;
  sessionId: number;
  ns?: number;
  nr?: number;
  /** When set, an O bit and this many zero pad bytes are written. */
  offsetSize?: number;
}

/** Encode a header followed by the payload (RFC 2661 §3.1); Length is filled in when L is set. */
export function encodeHeader(h: HeaderFields, payload: Uint8Array = new Uint8Array(0)): Buffer {
  let size = 6;
  if (h.hasLength) size += 2;
  if (h.hasSequence) size += 4;
  if (h.offsetSize !== undefined) size += 2 + h.offsetSize;
  const out = Buffer.alloc(size + payload.length);
  let flags = L2TP_VERSION;
  if (h.isControl) flags |= FLAG_T;
  if (h.hasLength) flags |= FLAG_L;
  if (h.hasSequence) flags |= FLAG_S;
  if (h.offsetSize !== undefined) flags |= FLAG_O;
  if (h.priority) flags |= FLAG_P;
  let o = 0;
  out.writeUInt16BE(flags, o);
  o += 2;
  if (h.hasLength) {
    out.writeUInt16BE(out.length & 0xffff, o);
    o += 2;
  }
  out.writeUInt16BE(h.tunnelId & 0xffff, o);
  out.writeUInt16BE(h.sessionId & 0xffff, o + 2);
  o += 4;
  if (h.hasSequence) {
    out.writeUInt16BE((h.ns ?? 0) & 0xffff, o);
    out.writeUInt16BE((h.nr ?? 0) & 0xffff, o + 2);
    o += 4;
  }
  if (h.offsetSize !== undefined) {
    out.writeUInt16BE(h.offsetSize & 0xffff, o);
    o += 2 + h.offsetSize;
  }
  out.set(payload, o);
  return out;
}

/** Offsets of Ns and Nr in a control header (fixed: T, L, S set, no offset). */
export const CONTROL_NS_OFFSET = 8;
export const CONTROL_NR_OFFSET = 10;
