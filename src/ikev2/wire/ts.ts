import { Reader, Writer } from '../../core/bytes.js';
import { DecodeError } from '../../core/errors.js';
import { TsType } from './constants.js';

/**
 * Traffic Selector payloads TSi and TSr (RFC 7296 §3.13):
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Next Payload  |C|  RESERVED   |         Payload Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Number of TSs |                 RESERVED                      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                       <Traffic Selectors>                     ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Traffic selector (§3.13.1):
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |   TS Type     |IP Protocol ID*|       Selector Length         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |           Start Port*         |           End Port*           |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                         Starting Address*                     ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                         Ending Address*                       ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * Selector Length is 16 for TS_IPV4_ADDR_RANGE and 40 for TS_IPV6_ADDR_RANGE.
 */
export interface TrafficSelector {
  tsType: number;
  ipProtocol: number;
  startPort: number;
  endPort: number;
  startAddress: Buffer;
  endAddress: Buffer;
}

export interface TsPayload {
  selectors: TrafficSelector[];
}

const addrLen = (t: number): number | undefined => (t === TsType.TS_IPV4_ADDR_RANGE ? 4 : t === TsType.TS_IPV6_ADDR_RANGE ? 16 : undefined);

export function decodeTs(body: Uint8Array): TsPayload {
  const r = new Reader(body);
  const count = r.u8('number of TSs');
  r.skip(3, 'reserved');
  if (count === 0) throw new DecodeError('no traffic selectors', 0, 'empty-ts');
  const selectors: TrafficSelector[] = [];
  for (let i = 0; i < count; i++) {
    const at = r.offset;
    const tsType = r.u8('ts type');
    const ipProtocol = r.u8('ip protocol');
    const len = r.u16('selector length');
    const al = addrLen(tsType);
    if (al === undefined) throw new DecodeError(`unknown traffic selector type ${tsType}`, at, 'bad-ts-type');
    if (len !== 8 + 2 * al) throw new DecodeError(`selector length ${len} for type ${tsType}`, at + 2, 'bad-ts-length');
    const startPort = r.u16('start port');
    const endPort = r.u16('end port');
    selectors.push({ tsType, ipProtocol, startPort, endPort, startAddress: r.copy(al, 'start address'), endAddress: r.copy(al, 'end address') });
  }
  if (r.remaining !== 0) throw new DecodeError(`${r.remaining} bytes after ${count} selectors`, r.offset, 'trailing-bytes');
  return { selectors };
}

export function encodeTs(ts: TsPayload): Buffer {
  if (ts.selectors.length === 0 || ts.selectors.length > 255) throw new RangeError('1..255 traffic selectors');
  const w = new Writer(4 + 16 * ts.selectors.length).u8(ts.selectors.length).zeros(3);
  for (const s of ts.selectors) {
    const al = addrLen(s.tsType);
    if (al === undefined || s.startAddress.length !== al || s.endAddress.length !== al) throw new RangeError('selector address size');
    w.u8(s.tsType).u8(s.ipProtocol).u16(8 + 2 * al).u16(s.startPort).u16(s.endPort).bytes(s.startAddress).bytes(s.endAddress);
  }
  return w.finish();
}

/** An IPv4 range selector for any protocol and port. */
export function ipv4Range(start: Uint8Array, end: Uint8Array): TrafficSelector {
  return { tsType: TsType.TS_IPV4_ADDR_RANGE, ipProtocol: 0, startPort: 0, endPort: 65535, startAddress: Buffer.from(start), endAddress: Buffer.from(end) };
}
