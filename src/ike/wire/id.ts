import { Reader, Writer } from '../../core/bytes.js';
import { bytesToIPv4 } from '../../core/ipv4.js';
import { IdType, idTypeNames, nameOf } from './constants.js';

/**
 * Identification payload body, IPsec DOI (RFC 2407 §4.6.2):
 * ! ID Type ! Protocol ID ! Port (2) !
 * ! Identification Data (variable) !
 */
export interface IdPayload {
  idType: number;
  protocol: number;
  port: number;
  data: Buffer;
}

/** Fixed data lengths of the address types (RFC 2407 §4.6.2.2 - §4.6.2.11). */
const FIXED_LENGTH: Record<number, number> = {
  [IdType.IPV4_ADDR]: 4,
  [IdType.IPV4_ADDR_SUBNET]: 8,
  [IdType.IPV4_ADDR_RANGE]: 8,
  [IdType.IPV6_ADDR]: 16,
  [IdType.IPV6_ADDR_SUBNET]: 32,
  [IdType.IPV6_ADDR_RANGE]: 32,
};

export function decodeId(body: Uint8Array): IdPayload {
  const r = new Reader(body);
  const idType = r.u8('id type');
  const protocol = r.u8('id protocol');
  const port = r.u16('id port');
  const data = r.copy(r.remaining, 'id data');
  const fixed = FIXED_LENGTH[idType];
  if (fixed !== undefined && data.length !== fixed) r.fail(`${nameOf(idTypeNames, idType)} data of ${data.length} bytes, expected ${fixed}`, 'bad-id');
  if ((idType === IdType.FQDN || idType === IdType.USER_FQDN || idType === IdType.KEY_ID) && data.length === 0) {
    r.fail(`empty ${nameOf(idTypeNames, idType)}`, 'bad-id');
  }
  return { idType, protocol, port, data };
}

export function encodeId(id: IdPayload): Buffer {
  const w = new Writer(8 + id.data.length);
  w.u8(id.idType).u8(id.protocol).u16(id.port).bytes(id.data);
  return w.finish();
}

/** Readable form for logs and identity keys ("ID_IPV4_ADDR 10.0.0.2", "ID_FQDN vpn.example"). */
export function idToString(id: IdPayload): string {
  const d = id.data;
  switch (id.idType) {
    case IdType.IPV4_ADDR:
      return bytesToIPv4(d);
    case IdType.IPV4_ADDR_SUBNET:
      return `${bytesToIPv4(d)}/${bytesToIPv4(d, 4)}`;
    case IdType.IPV4_ADDR_RANGE:
      return `${bytesToIPv4(d)}-${bytesToIPv4(d, 4)}`;
    case IdType.FQDN:
    case IdType.USER_FQDN: {
      const s = d.toString('latin1');
      return /^[\x20-\x7e]*$/.test(s) ? s : `0x${d.toString('hex')}`;
    }
    default:
      return `${nameOf(idTypeNames, id.idType)}:0x${d.subarray(0, 64).toString('hex')}`;
  }
}
