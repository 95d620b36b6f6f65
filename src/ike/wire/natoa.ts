import { Reader, Writer } from '../../core/bytes.js';
import { bytesToIPv4, ipv4ToBytes } from '../../core/ipv4.js';
import { IdType } from './constants.js';

/**
 * NAT-OA payload body (RFC 3947 §5.2; payload type 21, draft type 131):
 * ! ID Type ! RESERVED (1) ! RESERVED (2) !
 * ! IPv4 (4 octets) or IPv6 address (16 octets) !
 */
export interface NatOaPayload {
  idType: number;
  /** Dotted quad for ID_IPV4_ADDR; hex for ID_IPV6_ADDR. */
  address: string;
}

export function decodeNatOa(body: Uint8Array): NatOaPayload {
  const r = new Reader(body);
  const idType = r.u8('NAT-OA id type');
  r.skip(3, 'NAT-OA reserved');
  if (idType === IdType.IPV4_ADDR) {
    const a = r.bytes(4, 'NAT-OA IPv4');
    if (r.remaining !== 0) r.fail('bytes after NAT-OA IPv4 address', 'trailing');
    return { idType, address: bytesToIPv4(a) };
  }
  if (idType === IdType.IPV6_ADDR) {
    const a = r.bytes(16, 'NAT-OA IPv6');
    if (r.remaining !== 0) r.fail('bytes after NAT-OA IPv6 address', 'trailing');
    return { idType, address: Buffer.from(a).toString('hex') };
  }
  return r.fail(`NAT-OA id type ${idType} is neither IPv4 nor IPv6`, 'bad-natoa');
}

export function encodeNatOa(n: NatOaPayload): Buffer {
  const w = new Writer(20);
  w.u8(n.idType).u8(0).u16(0);
  w.bytes(n.idType === IdType.IPV4_ADDR ? ipv4ToBytes(n.address) : Buffer.from(n.address, 'hex'));
  return w.finish();
}
