import { Reader, Writer } from '../../core/bytes.js';
import { DecodeError } from '../../core/errors.js';
import { ConfigAttr, configAttrNames, nameOf } from './constants.js';

/**
 * Configuration payload (RFC 7296 §3.15):
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Next Payload  |C| RESERVED    |         Payload Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |   CFG Type    |                    RESERVED                   |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                   Configuration Attributes                    ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Configuration attribute (§3.15.1):
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |R|         Attribute Type      |            Length             |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                             Value                             ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * Address attributes are empty in a request (or carry the address asked for);
 * unknown types (vendor attributes of Windows and Apple) are kept as bytes.
 */
export interface ConfigAttribute {
  type: number;
  value: Buffer;
}

export interface CpPayload {
  cfgType: number;
  attributes: ConfigAttribute[];
}

/** Allowed value lengths of the attributes whose value is an address (§3.15.1 table). */
const LENGTHS: Record<number, number[]> = {
  [ConfigAttr.INTERNAL_IP4_ADDRESS]: [0, 4],
  [ConfigAttr.INTERNAL_IP4_NETMASK]: [0, 4],
  [ConfigAttr.INTERNAL_IP4_DNS]: [0, 4],
  [ConfigAttr.INTERNAL_IP4_NBNS]: [0, 4],
  [ConfigAttr.INTERNAL_IP4_DHCP]: [0, 4],
  [ConfigAttr.INTERNAL_IP6_ADDRESS]: [0, 17],
  [ConfigAttr.INTERNAL_IP6_DNS]: [0, 16],
  [ConfigAttr.INTERNAL_IP6_DHCP]: [0, 16],
  [ConfigAttr.INTERNAL_IP4_SUBNET]: [0, 8],
  [ConfigAttr.INTERNAL_IP6_SUBNET]: [0, 17],
};

export function decodeCp(body: Uint8Array): CpPayload {
  const r = new Reader(body);
  const cfgType = r.u8('cfg type');
  r.skip(3, 'reserved');
  const attributes: ConfigAttribute[] = [];
  while (r.remaining > 0) {
    const at = r.offset;
    const type = r.u16('attribute type') & 0x7fff;
    const len = r.u16('attribute length');
    const value = r.copy(len, `${nameOf(configAttrNames, type)} value`);
    const allowed = LENGTHS[type];
    if (allowed && !allowed.includes(len)) throw new DecodeError(`${nameOf(configAttrNames, type)} of ${len} bytes`, at, 'bad-cp-attribute');
    attributes.push({ type, value });
  }
  return { cfgType, attributes };
}

export function encodeCp(cp: CpPayload): Buffer {
  const w = new Writer(64).u8(cp.cfgType).zeros(3);
  for (const a of cp.attributes) {
    if (a.value.length > 0xffff) throw new RangeError('attribute too long');
    w.u16(a.type & 0x7fff).u16(a.value.length).bytes(a.value);
  }
  return w.finish();
}
