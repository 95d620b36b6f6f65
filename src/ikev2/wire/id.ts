import { Reader, Writer } from '../../core/bytes.js';
import { DecodeError } from '../../core/errors.js';
import { IdType, idTypeNames, nameOf } from './constants.js';

/**
 * Identification payloads IDi and IDr (RFC 7296 §3.5):
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Next Payload  |C|  RESERVED   |         Payload Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |   ID Type     |                 RESERVED                      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                   Identification Data                         ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * AUTH signs the body from ID Type on (§2.15), so `body` of the chain is kept.
 */
export interface IdPayload {
  idType: number;
  data: Buffer;
}

export function decodeId(body: Uint8Array): IdPayload {
  const r = new Reader(body);
  const idType = r.u8('id type');
  r.skip(3, 'reserved');
  const data = r.copy(r.remaining, 'identification data');
  if (idType === IdType.ID_IPV4_ADDR && data.length !== 4) throw new DecodeError(`ID_IPV4_ADDR of ${data.length} bytes`, 4, 'bad-id');
  if (idType === IdType.ID_IPV6_ADDR && data.length !== 16) throw new DecodeError(`ID_IPV6_ADDR of ${data.length} bytes`, 4, 'bad-id');
  if (idType === IdType.ID_NULL ? data.length !== 0 : data.length === 0) throw new DecodeError(`${nameOf(idTypeNames, idType)} with ${data.length} bytes`, 4, 'bad-id');
  return { idType, data };
}

export function encodeId(id: IdPayload): Buffer {
  return new Writer(4 + id.data.length).u8(id.idType).zeros(3).bytes(id.data).finish();
}

/** Printable identity for logs and user lookup (addresses dotted, names as UTF-8, DNs as hex). */
export function idToString(id: IdPayload): string {
  switch (id.idType) {
    case IdType.ID_IPV4_ADDR:
      return [...id.data].join('.');
    case IdType.ID_IPV6_ADDR:
      return (id.data.toString('hex').match(/.{4}/g) ?? []).join(':');
    case IdType.ID_FQDN:
    case IdType.ID_RFC822_ADDR:
    case IdType.ID_KEY_ID:
      return id.data.toString('utf8').replace(/[^\x20-\x7e]/g, '?');
    default:
      return `${nameOf(idTypeNames, id.idType)}:${id.data.toString('hex')}`;
  }
}
