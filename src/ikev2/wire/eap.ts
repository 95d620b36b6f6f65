import { Reader } from '../../core/bytes.js';
import { DecodeError } from '../../core/errors.js';

/**
 * EAP payload (RFC 7296 §3.16): the body is one EAP message (RFC 3748 §4),
 * decoded by ../eap/packet.ts.
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Next Payload  |C|  RESERVED   |         Payload Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                       EAP Message                             ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |     Code      | Identifier    |           Length              |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |     Type      | Type_Data...
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * The EAP Length must equal the payload body length.
 */
export interface EapPayload {
  message: Buffer;
}

export function decodeEapPayload(body: Uint8Array): EapPayload {
  const r = new Reader(body);
  if (body.length < 4) throw new DecodeError(`EAP message of ${body.length} bytes`, 0, 'short-eap');
  r.skip(2, 'code and identifier');
  const len = r.u16('eap length');
  if (len !== body.length) throw new DecodeError(`EAP length ${len} != payload body ${body.length}`, 2, 'bad-eap-length');
  return { message: Buffer.from(body) };
}

export function encodeEapPayload(e: EapPayload): Buffer {
  return Buffer.from(e.message);
}
