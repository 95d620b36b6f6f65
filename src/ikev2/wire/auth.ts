import { Reader, Writer } from '../../core/bytes.js';
import { DecodeError } from '../../core/errors.js';

/**
 * Authentication payload (RFC 7296 §3.8):
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Next Payload  |C|  RESERVED   |         Payload Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Auth Method   |                RESERVED                       |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                      Authentication Data                      ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
export interface AuthPayload {
  method: number;
  data: Buffer;
}

export function decodeAuth(body: Uint8Array): AuthPayload {
  const r = new Reader(body);
  const method = r.u8('auth method');
  r.skip(3, 'reserved');
  const data = r.copy(r.remaining, 'authentication data');
  if (data.length === 0) throw new DecodeError('empty authentication data', 4, 'empty-auth');
  return { method, data };
}

export function encodeAuth(a: AuthPayload): Buffer {
  return new Writer(4 + a.data.length).u8(a.method).zeros(3).bytes(a.data).finish();
}
