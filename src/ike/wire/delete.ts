import { Reader, Writer } from '../../core/bytes.js';

/**
 * Delete payload body (RFC 2408 §3.15):
 * ! Domain of Interpretation (4) !
 * ! Protocol-Id ! SPI Size ! # of SPIs (2) !
 * ! Security Parameter Index(es) (num_spi × spi_size) !
 */
export interface DeletePayload {
  doi: number;
  protocolId: number;
  spiSize: number;
  spis: Buffer[];
}

export function decodeDelete(body: Uint8Array): DeletePayload {
  const r = new Reader(body);
  const doi = r.u32('delete doi');
  const protocolId = r.u8('delete protocol');
  const spiSize = r.u8('delete spi size');
  const count = r.u16('delete spi count');
  if (spiSize === 0 || count * spiSize !== r.remaining) {
    r.fail(`delete carries ${count} SPIs of ${spiSize} bytes in ${r.remaining} bytes`, 'bad-delete');
  }
  const spis: Buffer[] = [];
  for (let i = 0; i < count; i++) spis.push(r.copy(spiSize, 'delete spi'));
  return { doi, protocolId, spiSize, spis };
}

export function encodeDelete(d: DeletePayload): Buffer {
  const w = new Writer(12 + d.spis.length * d.spiSize);
  w.u32(d.doi).u8(d.protocolId).u8(d.spiSize).u16(d.spis.length);
  for (const s of d.spis) w.bytes(s);
  return w.finish();
}
