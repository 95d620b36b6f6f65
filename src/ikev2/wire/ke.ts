import { Reader, Writer } from '../../core/bytes.js';
import { DecodeError } from '../../core/errors.js';

/**
 * Key Exchange payload (RFC 7296 §3.4):
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Next Payload  |C|  RESERVED   |         Payload Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |   Diffie-Hellman Group Num    |           RESERVED            |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                       Key Exchange Data                       ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * (The generic header is written by the payload chain; bodies start after it.)
 * The data length is checked against the group by the DH code.
 */
export interface KePayload {
  group: number;
  data: Buffer;
}

export function decodeKe(body: Uint8Array): KePayload {
  const r = new Reader(body);
  const group = r.u16('dh group');
  r.skip(2, 'reserved');
  if (r.remaining === 0) throw new DecodeError('empty key exchange data', r.offset, 'empty-ke');
  return { group, data: r.copy(r.remaining, 'key exchange data') };
}

export function encodeKe(ke: KePayload): Buffer {
  return new Writer(4 + ke.data.length).u16(ke.group).u16(0).bytes(ke.data).finish();
}
