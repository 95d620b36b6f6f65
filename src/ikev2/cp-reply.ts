import { bytesToIPv4, ipv4ToBytes } from '../core/ipv4.js';
import { CfgType, ConfigAttr } from './wire/constants.js';
import type { CpPayload } from './wire/cp.js';

/**
 * The configuration exchange of a remote-access client (RFC 7296 §2.19): the
 * CFG_REQUEST says what it wants (an IPv4 address, perhaps the one it had, DNS
 * servers); the CFG_REPLY gives the address from the pool and our DNS servers.
 */
export interface CpWants {
  ip4: boolean;
  /** The address the client asked to keep, when it named one. */
  requestedIp4: string | undefined;
  dns4: boolean;
}

export function cpWants(cp: CpPayload | undefined): CpWants {
  if (!cp || cp.cfgType !== CfgType.CFG_REQUEST) return { ip4: false, requestedIp4: undefined, dns4: false };
  const addr = cp.attributes.find((a) => a.type === ConfigAttr.INTERNAL_IP4_ADDRESS);
  const requested = addr && addr.value.length === 4 && !addr.value.equals(Buffer.alloc(4)) ? bytesToIPv4(addr.value) : undefined;
  return { ip4: addr !== undefined, requestedIp4: requested, dns4: cp.attributes.some((a) => a.type === ConfigAttr.INTERNAL_IP4_DNS) };
}

export function cpReply(address: string, dns: string[]): CpPayload {
  return {
    cfgType: CfgType.CFG_REPLY,
    attributes: [
      { type: ConfigAttr.INTERNAL_IP4_ADDRESS, value: ipv4ToBytes(address) },
      ...dns.map((d) => ({ type: ConfigAttr.INTERNAL_IP4_DNS, value: ipv4ToBytes(d) })),
    ],
  };
}
