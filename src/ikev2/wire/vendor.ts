import { Reader } from '../../core/bytes.js';
import { DecodeError } from '../../core/errors.js';

/**
 * Vendor ID payload (RFC 7296 §3.12):
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Next Payload  |C|  RESERVED   |         Payload Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                        Vendor ID (VID)                        ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
export interface VendorPayload {
  data: Buffer;
}

export function decodeVendor(body: Uint8Array): VendorPayload {
  if (body.length === 0) throw new DecodeError('empty vendor ID', 0, 'empty-vid');
  return { data: new Reader(body).copy(body.length, 'vendor id') };
}

export function encodeVendor(v: VendorPayload): Buffer {
  return Buffer.from(v.data);
}
