import { createHash } from 'node:crypto';
import type { Endpoint } from '../core/sa.js';
import { ipv4ToBytes } from '../core/ipv4.js';
import { PayloadType } from './wire/constants.js';
import type { HashName } from './crypto/algorithms.js';
import { hash } from './crypto/prf.js';

/** Vendor IDs (MD5 of the names) for NAT-T (RFC 3947 §3.1 and the drafts), DPD (RFC 3706 §6) and others. */
const md5 = (s: string): Buffer => createHash('md5').update(s).digest();

export const VID_RFC3947 = md5('RFC 3947');
export const VID_NATT_DRAFT_02 = md5('draft-ietf-ipsec-nat-t-ike-02');
export const VID_NATT_DRAFT_02N = md5('draft-ietf-ipsec-nat-t-ike-02\n');
export const VID_NATT_DRAFT_03 = md5('draft-ietf-ipsec-nat-t-ike-03');
/** RFC 3706 §6: afcad71368a1f1c96b8696fc77570100. */
export const VID_DPD = Buffer.from('afcad71368a1f1c96b8696fc77570100', 'hex');
export const VID_XAUTH = Buffer.from('09002689dfd6b712', 'hex');
export const VID_FRAGMENTATION = Buffer.from('4048b7d56ebce88525e7de7f00d6c2d3', 'hex');
export const VID_MS_NT5 = Buffer.from('1e2b516905991c7d7c96fcbfb587e461', 'hex');

export interface NatTVersion {
  vid: Buffer;
  name: string;
  /** NAT-D / NAT-OA payload types: 20/21 for the RFC, 130/131 for drafts. */
  natD: number;
  natOa: number;
}

/** Preference order when the peer offers several. */
const VERSIONS: NatTVersion[] = [
  { vid: VID_RFC3947, name: 'RFC 3947', natD: PayloadType.NAT_D, natOa: PayloadType.NAT_OA },
  { vid: VID_NATT_DRAFT_03, name: 'draft-03', natD: PayloadType.NAT_D_DRAFT, natOa: PayloadType.NAT_OA_DRAFT },
  { vid: VID_NATT_DRAFT_02N, name: 'draft-02n', natD: PayloadType.NAT_D_DRAFT, natOa: PayloadType.NAT_OA_DRAFT },
  { vid: VID_NATT_DRAFT_02, name: 'draft-02', natD: PayloadType.NAT_D_DRAFT, natOa: PayloadType.NAT_OA_DRAFT },
];

export function chooseNatT(vendorIds: Buffer[]): NatTVersion | undefined {
  return VERSIONS.find((v) => vendorIds.some((x) => x.equals(v.vid)));
}

export function hasVid(vendorIds: Buffer[], vid: Buffer): boolean {
  return vendorIds.some((x) => x.length >= vid.length && x.subarray(0, vid.length).equals(vid));
}

const port16 = (p: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(p & 0xffff);
  return b;
};

/** NAT-D = HASH(CKY-I | CKY-R | IP | Port) (RFC 3947 §3.2). */
export function natDHash(h: HashName, ckyI: Uint8Array, ckyR: Uint8Array, ep: Endpoint): Buffer {
  return hash(h, ckyI, ckyR, ipv4ToBytes(ep.address), port16(ep.port));
}
