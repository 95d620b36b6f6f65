import { DecodeError, Reader, Writer } from '../core/index.js';

/**
 * PPP framing as carried by L2TP (RFC 2661 §3.1: the HDLC address and
 * control fields FF 03 are carried, though a peer may omit them with ACFC),
 * control packets (RFC 1661 §5) and configuration options (RFC 1661 §6).
 */

export interface PppFrame {
  protocol: number;
  /** The information field (a view into the input). */
  info: Uint8Array;
}

/**
 *  +----------+----------+----------+-------------+
 *  | Address  | Control  | Protocol | Information |
 *  | 11111111 | 00000011 | 8/16 bits|      *      |
 *  +----------+----------+----------+-------------+
 * RFC 1661 §2: the protocol field's least significant octet is odd and the
 * most significant octet is even; a 1-byte protocol (PFC) is an odd first byte.
 */
export function decodeFrame(frame: Uint8Array): PppFrame {
  const r = new Reader(frame);
  if (frame.length >= 2 && frame[0] === 0xff && frame[1] === 0x03) r.skip(2);
  const first = r.u8('protocol');
  let protocol: number;
  if (first & 1) {
    protocol = first;
  } else {
    const second = r.u8('protocol');
    if ((second & 1) === 0) r.fail(`invalid protocol field 0x${first.toString(16)}${second.toString(16).padStart(2, '0')}`, 'bad-protocol', r.offset - 2);
    protocol = (first << 8) | second;
  }
  return { protocol, info: r.rest() };
}

/** FF 03 + 2-byte protocol + information. */
export function encodeFrame(protocol: number, info: Uint8Array): Buffer {
  const b = Buffer.alloc(4 + info.length);
  b[0] = 0xff;
  b[1] = 0x03;
  b.writeUInt16BE(protocol, 2);
  b.set(info, 4);
  return b;
}

export interface ControlPacket {
  code: number;
  id: number;
  /** The data after the 4-byte header, up to Length (padding beyond Length ignored). */
  data: Uint8Array;
}

/**
 *  0                   1                   2                   3
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |     Code      |  Identifier   |            Length             |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |    Data ...
 * RFC 1661 §5: octets past Length are padding and ignored; Length beyond
 * the received data is an error (drop).
 */
export function decodeControl(info: Uint8Array): ControlPacket {
  const r = new Reader(info);
  const code = r.u8('code');
  const id = r.u8('identifier');
  const length = r.u16('length');
  if (length < 4) r.fail(`control packet length ${length} < 4`, 'bad-length', 2);
  if (length > info.length) r.fail(`control packet length ${length} > ${info.length} received`, 'truncated', 2);
  return { code, id, data: r.bytes(length - 4, 'data') };
}

export function encodeControl(code: number, id: number, data: Uint8Array): Buffer {
  if (data.length + 4 > 0xffff) throw new RangeError('control packet too long');
  return new Writer(4 + data.length).u8(code).u8(id).u16(4 + data.length).bytes(data).finish();
}

/** A whole frame: FF 03 + protocol + control packet (one allocation). */
export function encodeControlFrame(protocol: number, code: number, id: number, data: Uint8Array): Buffer {
  const b = Buffer.alloc(8 + data.length);
  b[0] = 0xff;
  b[1] = 0x03;
  b.writeUInt16BE(protocol, 2);
  b[4] = code;
  b[5] = id & 0xff;
  b.writeUInt16BE(4 + data.length, 6);
  b.set(data, 8);
  return b;
}

export interface ConfigOption {
  type: number;
  /** The option's data (after type and length). */
  data: Uint8Array;
  /** The whole option, type and length included (for echoing in Ack/Reject). */
  raw: Uint8Array;
}

/**
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |     Type      |    Length     |    Data ...
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * RFC 1661 §6: Length counts type and length, so < 2 is malformed: the whole
 * packet is dropped (a length of 0 would otherwise loop forever).
 */
export function decodeOptions(data: Uint8Array): ConfigOption[] {
  const r = new Reader(data);
  const out: ConfigOption[] = [];
  while (r.remaining > 0) {
    const at = r.offset;
    const type = r.u8('option type');
    const length = r.u8('option length');
    if (length < 2) r.fail(`option ${type} length ${length} < 2`, 'bad-option-length', at + 1);
    const body = r.bytes(length - 2, 'option data');
    out.push({ type, data: body, raw: data.subarray(at, at + length) });
  }
  return out;
}

export function encodeOption(type: number, data: Uint8Array): Buffer {
  if (data.length > 253) throw new RangeError('option data too long');
  const b = Buffer.alloc(2 + data.length);
  b[0] = type;
  b[1] = 2 + data.length;
  b.set(data, 2);
  return b;
}

export function u16Bytes(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v & 0xffff);
  return b;
}

export function u32Bytes(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
}

export { DecodeError };
