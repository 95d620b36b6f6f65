import { ipv4ToBytes } from '../core/ipv4.js';
import { TsType } from './wire/constants.js';
import type { TrafficSelector } from './wire/ts.js';

/**
 * Traffic selector narrowing for a remote-access client (RFC 7296 §2.9): the
 * client's side (TSi) becomes its virtual address, our side (TSr) the networks we
 * route for it (0.0.0.0/0 for a full tunnel), each intersected with what the
 * client proposed. IPv6 selectors are left out. Undefined means TS_UNACCEPTABLE.
 */
export interface Ipv4Range {
  start: number;
  end: number;
}

const u32 = (b: Uint8Array): number => ((b[0]! << 24) >>> 0) + (b[1]! << 16) + (b[2]! << 8) + b[3]!;
const bytes = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
};

function intersect(ts: TrafficSelector, r: Ipv4Range): TrafficSelector | undefined {
  if (ts.tsType !== TsType.TS_IPV4_ADDR_RANGE) return undefined;
  const start = Math.max(u32(ts.startAddress), r.start);
  const end = Math.min(u32(ts.endAddress), r.end);
  if (start > end || ts.startPort > ts.endPort) return undefined;
  return { ...ts, startAddress: bytes(start), endAddress: bytes(end) };
}

export function narrowTrafficSelectors(tsi: TrafficSelector[], tsr: TrafficSelector[], virtualIp: string, ours: Ipv4Range[]): { tsi: TrafficSelector[]; tsr: TrafficSelector[] } | undefined {
  const vip = u32(ipv4ToBytes(virtualIp));
  const i = tsi.map((t) => intersect(t, { start: vip, end: vip })).filter((t): t is TrafficSelector => t !== undefined);
  const r = tsr.flatMap((t) => ours.map((o) => intersect(t, o))).filter((t): t is TrafficSelector => t !== undefined);
  if (i.length === 0 || r.length === 0) return undefined;
  return { tsi: [i[0]!], tsr: r };
}

export const FULL_TUNNEL: Ipv4Range[] = [{ start: 0, end: 0xffffffff }];
