import { Reader, Writer } from '../../core/bytes.js';

/**
 * Notification payload body (RFC 2408 §3.14):
 * ! Domain of Interpretation (4) !
 * ! Protocol-ID ! SPI Size ! Notify Message Type (2) !
 * ! Security Parameter Index (SPI) ! Notification Data !
 */
export interface NotifyPayload {
  doi: number;
  protocolId: number;
  spi: Buffer;
  notifyType: number;
  data: Buffer;
}

export function decodeNotify(body: Uint8Array): NotifyPayload {
  const r = new Reader(body);
  const doi = r.u32('notify doi');
  const protocolId = r.u8('notify protocol');
  const spiSize = r.u8('notify spi size');
  const notifyType = r.u16('notify type');
  const spi = r.copy(spiSize, 'notify spi');
  const data = r.copy(r.remaining, 'notify data');
  return { doi, protocolId, spi, notifyType, data };
}

export function encodeNotify(n: NotifyPayload): Buffer {
  const w = new Writer(12 + n.spi.length + n.data.length);
  w.u32(n.doi).u8(n.protocolId).u8(n.spi.length).u16(n.notifyType).bytes(n.spi).bytes(n.data);
  return w.finish();
}
