import { Reader, Writer } from '../../core/bytes.js';

/**
 * Notify payload (RFC 7296 §3.10):
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Next Payload  |C|  RESERVED   |         Payload Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Protocol ID  |   SPI Size    |      Notify Message Type      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                Security Parameter Index (SPI)                 ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                       Notification Data                       ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * Names of the types: notifyTypeNames (constants.ts).
 */
export interface NotifyPayload {
  protocolId: number;
  spi: Buffer;
  type: number;
  data: Buffer;
}

export function decodeNotify(body: Uint8Array): NotifyPayload {
  const r = new Reader(body);
  const protocolId = r.u8('notify protocol id');
  const spiSize = r.u8('notify spi size');
  const type = r.u16('notify message type');
  const spi = r.copy(spiSize, 'notify spi');
  return { protocolId, spi, type, data: r.copy(r.remaining, 'notification data') };
}

export function encodeNotify(n: NotifyPayload): Buffer {
  if (n.spi.length > 255) throw new RangeError('notify SPI too long');
  return new Writer(4 + n.spi.length + n.data.length).u8(n.protocolId).u8(n.spi.length).u16(n.type).bytes(n.spi).bytes(n.data).finish();
}

/** A notify without SPI (protocol 0), the usual shape for status and IKE SA errors. */
export function notify(type: number, data: Uint8Array = Buffer.alloc(0)): NotifyPayload {
  return { protocolId: 0, spi: Buffer.alloc(0), type, data: Buffer.from(data) };
}
