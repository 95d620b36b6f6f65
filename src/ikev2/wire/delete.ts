import { Reader, Writer } from '../../core/bytes.js';
import { DecodeError } from '../../core/errors.js';
import { ProtocolId } from './constants.js';

/**
 * Delete payload (RFC 7296 §3.11):
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Next Payload  |C|  RESERVED   |         Payload Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Protocol ID   |   SPI Size    |          Num of SPIs          |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~               Security Parameter Index(es) (SPI)              ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * Num of SPIs × SPI Size must be exactly the rest of the payload (isakmpd
 * CVE-2004-0221); the IKE SA is deleted with protocol 1, SPI size 0, no SPIs.
 */
export interface DeletePayload {
  protocolId: number;
  spiSize: number;
  spis: Buffer[];
}

export function decodeDelete(body: Uint8Array): DeletePayload {
  const r = new Reader(body);
  const protocolId = r.u8('delete protocol id');
  const spiSize = r.u8('delete spi size');
  const count = r.u16('number of spis');
  if (protocolId === ProtocolId.IKE && (spiSize !== 0 || count !== 0)) throw new DecodeError('IKE SA delete with SPIs', 0, 'bad-delete');
  if ((protocolId === ProtocolId.ESP || protocolId === ProtocolId.AH) && spiSize !== 4) throw new DecodeError(`child SA delete with SPI size ${spiSize}`, 1, 'bad-delete');
  if (count * spiSize !== r.remaining) throw new DecodeError(`${count} SPIs of ${spiSize} bytes in ${r.remaining} bytes`, 2, 'bad-delete');
  const spis: Buffer[] = [];
  for (let i = 0; i < count; i++) spis.push(r.copy(spiSize, 'spi'));
  return { protocolId, spiSize, spis };
}

export function encodeDelete(d: DeletePayload): Buffer {
  const w = new Writer(4 + d.spis.length * d.spiSize).u8(d.protocolId).u8(d.spiSize).u16(d.spis.length);
  for (const s of d.spis) {
    if (s.length !== d.spiSize) throw new RangeError('SPI size mismatch');
    w.bytes(s);
  }
  return w.finish();
}
