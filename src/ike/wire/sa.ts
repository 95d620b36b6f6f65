import { Reader, Writer } from '../../core/bytes.js';
import { DecodeError } from '../../core/errors.js';
import { PayloadType } from './constants.js';
import { decodeAttributes, encodeAttributes, type DataAttribute } from './attributes.js';

/**
 * Security Association payload body (RFC 2408 §3.4, RFC 2407 §4.6.1):
 * ! Domain of Interpretation (4) ! Situation (4, SIT_IDENTITY_ONLY) ! Proposal payloads...
 *
 * Proposal payload (RFC 2408 §3.5):
 * ! Next Payload ! RESERVED ! Payload Length (2) !
 * ! Proposal # ! Protocol-Id ! SPI Size ! # of Transforms !
 * ! SPI (variable) ! Transform payloads...
 *
 * Transform payload (RFC 2408 §3.6):
 * ! Next Payload ! RESERVED ! Payload Length (2) !
 * ! Transform # ! Transform-Id ! RESERVED2 (2) !
 * ! SA Attributes...
 */
export interface Transform {
  number: number;
  id: number;
  attributes: DataAttribute[];
}

export interface Proposal {
  number: number;
  protocolId: number;
  spi: Buffer;
  transforms: Transform[];
}

export interface SaPayload {
  doi: number;
  situation: number;
  proposals: Proposal[];
}

function decodeTransform(r: Reader): Transform {
  const number = r.u8('transform number');
  const id = r.u8('transform id');
  r.skip(2, 'transform reserved');
  return { number, id, attributes: decodeAttributes(r) };
}

function decodeProposal(r: Reader): Proposal {
  const number = r.u8('proposal number');
  const protocolId = r.u8('protocol id');
  const spiSize = r.u8('spi size');
  const count = r.u8('transform count');
  const spi = r.copy(spiSize, 'spi');
  if (count === 0) r.fail('proposal with 0 transforms', 'no-transforms');
  const transforms: Transform[] = [];
  let next: number = PayloadType.T;
  while (next !== PayloadType.NONE) {
    if (next !== PayloadType.T) r.fail(`transform chain has next payload ${next}`, 'bad-chain');
    const at = r.offset;
    next = r.u8('transform next');
    r.skip(1);
    const len = r.u16('transform length');
    if (len < 8) throw new DecodeError(`transform length ${len} < 8`, at, 'bad-length');
    transforms.push(decodeTransform(r.sub(len - 4, 'transform')));
  }
  if (transforms.length !== count) r.fail(`proposal announces ${count} transforms, carries ${transforms.length}`, 'transform-count');
  if (r.remaining !== 0) r.fail('bytes after the last transform', 'trailing');
  return { number, protocolId, spi, transforms };
}

export function decodeSa(body: Uint8Array): SaPayload {
  const r = new Reader(body);
  const doi = r.u32('doi');
  const situation = r.u32('situation');
  const proposals: Proposal[] = [];
  let next: number = PayloadType.P;
  while (next !== PayloadType.NONE) {
    if (next !== PayloadType.P) r.fail(`proposal chain has next payload ${next}`, 'bad-chain');
    const at = r.offset;
    next = r.u8('proposal next');
    r.skip(1);
    const len = r.u16('proposal length');
    if (len < 8) throw new DecodeError(`proposal length ${len} < 8`, at, 'bad-length');
    proposals.push(decodeProposal(r.sub(len - 4, 'proposal')));
    if (proposals.length > 64) r.fail('more than 64 proposals', 'too-many');
  }
  if (r.remaining !== 0) r.fail('bytes after the last proposal', 'trailing');
  return { doi, situation, proposals };
}

export function encodeSa(sa: SaPayload): Buffer {
  const w = new Writer(128);
  w.u32(sa.doi).u32(sa.situation);
  sa.proposals.forEach((p, pi) => {
    const pStart = w.length;
    w.u8(pi === sa.proposals.length - 1 ? PayloadType.NONE : PayloadType.P).u8(0);
    const pLen = w.reserve(2);
    w.u8(p.number).u8(p.protocolId).u8(p.spi.length).u8(p.transforms.length).bytes(p.spi);
    p.transforms.forEach((t, ti) => {
      const tStart = w.length;
      w.u8(ti === p.transforms.length - 1 ? PayloadType.NONE : PayloadType.T).u8(0);
      const tLen = w.reserve(2);
      w.u8(t.number).u8(t.id).u16(0);
      encodeAttributes(t.attributes, w);
      w.patchU16(tLen, w.length - tStart);
    });
    w.patchU16(pLen, w.length - pStart);
  });
  return w.finish();
}
