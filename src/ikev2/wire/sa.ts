import { Reader, Writer } from '../../core/bytes.js';
import { DecodeError } from '../../core/errors.js';
import { TransformAttr } from './constants.js';

/**
 * Security Association payload (RFC 7296 §3.3): a list of proposals.
 *
 * Proposal substructure (§3.3.1):
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Last Substruc |   RESERVED    |         Proposal Length       |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Proposal Num  |  Protocol ID  |    SPI Size   |Num  Transforms|
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                        SPI (variable)                         ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                        <Transforms>                           ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Transform substructure (§3.3.2):
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Last Substruc |   RESERVED    |        Transform Length       |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |Transform Type |   RESERVED    |          Transform ID         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                      Transform Attributes                     ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Transform attribute (§3.3.5):
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |A|       Attribute Type        |    AF=0  Attribute Length     |
 * |F|                             |    AF=1  Attribute Value      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                   AF=0  Attribute Value                       |
 * |                   AF=1  Not Transmitted                       |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Last Substruc is 0 on the last proposal (transform) and 2 (3) before it.
 */
const MORE_PROPOSALS = 2;
const MORE_TRANSFORMS = 3;

export type TransformAttribute = { type: number; tv: true; value: number } | { type: number; tv: false; bytes: Buffer };

export interface Transform {
  type: number;
  id: number;
  attributes: TransformAttribute[];
}

export interface Proposal {
  number: number;
  protocolId: number;
  spi: Buffer;
  transforms: Transform[];
}

export interface SaPayload {
  proposals: Proposal[];
}

/** The Key Length attribute in bits (§3.3.5), undefined when absent. */
export function keyLength(t: Transform): number | undefined {
  const a = t.attributes.find((x) => x.type === TransformAttr.KEY_LENGTH);
  return a?.tv ? a.value : undefined;
}

function decodeAttributes(r: Reader): TransformAttribute[] {
  const out: TransformAttribute[] = [];
  while (r.remaining > 0) {
    const t = r.u16('attribute type');
    const type = t & 0x7fff;
    if (t & 0x8000) out.push({ type, tv: true, value: r.u16('attribute value') });
    else {
      const len = r.u16('attribute length');
      out.push({ type, tv: false, bytes: r.copy(len, 'attribute value') });
    }
  }
  return out;
}

function decodeTransform(r: Reader, isLast: boolean): Transform {
  const at = r.offset;
  const last = r.u8('transform last');
  r.skip(1, 'reserved');
  const len = r.u16('transform length');
  if (len < 8) throw new DecodeError(`transform length ${len} < 8`, at, 'bad-transform-length');
  const tr = r.sub(len - 4, 'transform');
  if (last !== (isLast ? 0 : MORE_TRANSFORMS)) throw new DecodeError(`transform Last Substruc ${last}`, at, 'bad-last-substruc');
  const type = tr.u8('transform type');
  tr.skip(1, 'reserved');
  const id = tr.u16('transform id');
  const attributes = decodeAttributes(tr);
  if (attributes.filter((a) => a.type === TransformAttr.KEY_LENGTH).length > 1) throw new DecodeError('two Key Length attributes', at, 'duplicate-attribute');
  const kl = attributes.find((a) => a.type === TransformAttr.KEY_LENGTH);
  if (kl && !kl.tv) throw new DecodeError('Key Length attribute in TLV form', at, 'bad-attribute');
  return { type, id, attributes };
}

function decodeProposal(r: Reader): { proposal: Proposal; last: boolean } {
  const at = r.offset;
  const lastByte = r.u8('proposal last');
  if (lastByte !== 0 && lastByte !== MORE_PROPOSALS) throw new DecodeError(`proposal Last Substruc ${lastByte}`, at, 'bad-last-substruc');
  r.skip(1, 'reserved');
  const len = r.u16('proposal length');
  if (len < 8) throw new DecodeError(`proposal length ${len} < 8`, at, 'bad-proposal-length');
  const pr = r.sub(len - 4, 'proposal');
  const number = pr.u8('proposal number');
  const protocolId = pr.u8('protocol id');
  const spiSize = pr.u8('spi size');
  const count = pr.u8('number of transforms');
  const spi = pr.copy(spiSize, 'spi');
  const transforms: Transform[] = [];
  for (let i = 0; i < count; i++) transforms.push(decodeTransform(pr, i === count - 1));
  if (pr.remaining !== 0) throw new DecodeError(`${pr.remaining} bytes after ${count} transforms`, pr.offset, 'bad-proposal-length');
  return { proposal: { number, protocolId, spi, transforms }, last: lastByte === 0 };
}

export function decodeSa(body: Uint8Array): SaPayload {
  const r = new Reader(body);
  const proposals: Proposal[] = [];
  if (r.remaining === 0) throw new DecodeError('SA without proposals', 0, 'empty-sa');
  for (;;) {
    const { proposal, last } = decodeProposal(r);
    proposals.push(proposal);
    if (last) break;
    if (r.remaining === 0) throw new DecodeError('proposal announces another one after the end', r.offset, 'bad-last-substruc');
  }
  if (r.remaining !== 0) throw new DecodeError(`${r.remaining} bytes after the last proposal`, r.offset, 'trailing-bytes');
  return { proposals };
}

export function encodeSa(sa: SaPayload): Buffer {
  const w = new Writer(64);
  sa.proposals.forEach((p, pi) => {
    if (p.transforms.length > 255 || p.spi.length > 255) throw new RangeError('proposal too large');
    const start = w.length;
    w.u8(pi === sa.proposals.length - 1 ? 0 : MORE_PROPOSALS).u8(0);
    const lenAt = w.reserve(2);
    w.u8(p.number).u8(p.protocolId).u8(p.spi.length).u8(p.transforms.length).bytes(p.spi);
    p.transforms.forEach((t, ti) => {
      const tStart = w.length;
      w.u8(ti === p.transforms.length - 1 ? 0 : MORE_TRANSFORMS).u8(0);
      const tLenAt = w.reserve(2);
      w.u8(t.type).u8(0).u16(t.id);
      for (const a of t.attributes) {
        if (a.tv) w.u16(0x8000 | a.type).u16(a.value);
        else w.u16(a.type & 0x7fff).u16(a.bytes.length).bytes(a.bytes);
      }
      w.patchU16(tLenAt, w.length - tStart);
    });
    w.patchU16(lenAt, w.length - start);
  });
  return w.finish();
}
