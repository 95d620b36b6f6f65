import { DecodeError } from './errors.js';

/** Dotted quad to a 32-bit unsigned integer. Throws RangeError on a malformed address (no leading zeros, no signs or spaces). */
export function parseIPv4(s: string): number {
  let v = 0;
  let parts = 0;
  let i = 0;
  const n = s.length;
  for (;;) {
    // one part: 1-3 digits, no leading zero, at most 255, then '.' or the end
    const start = i;
    let part = 0;
    while (i < n) {
      const c = s.charCodeAt(i);
      if (c < 48 || c > 57) break;
      part = part * 10 + (c - 48);
      i++;
    }
    const len = i - start;
    if (len === 0 || len > 3 || (len > 1 && s.charCodeAt(start) === 48) || part > 255) break;
    v = v * 256 + part;
    parts++;
    if (i === n) return parts === 4 ? v >>> 0 : bad(s);
    if (s.charCodeAt(i) !== 46 || parts === 4) break;
    i++;
  }
  return bad(s);
}

function bad(s: string): never {
  throw new RangeError(`not an IPv4 address: ${JSON.stringify(s)}`);
}

export function formatIPv4(v: number): string {
  return `${(v >>> 24) & 255}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

export function ipv4ToBytes(s: string): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(parseIPv4(s));
  return b;
}

export function bytesToIPv4(b: Uint8Array, off = 0): string {
  if (off + 4 > b.length) throw new DecodeError('truncated IPv4 address', off, 'truncated');
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

export interface Cidr {
  network: number;
  prefix: number;
  /** First and last address of the block (network and broadcast for prefix < 31). */
  first: number;
  last: number;
}

/** "10.40.0.0/24" → the block. Host bits must be zero. */
export function parseCidr(s: string): Cidr {
  const m = /^([0-9.]+)\/([0-9]{1,2})$/.exec(s);
  if (!m) throw new RangeError(`not an IPv4 prefix (a.b.c.d/n): ${JSON.stringify(s)}`);
  const prefix = Number(m[2]);
  if (prefix > 32) throw new RangeError(`prefix length over 32: ${JSON.stringify(s)}`);
  const addr = parseIPv4(m[1]!);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  if ((addr & ~mask) >>> 0 !== 0) throw new RangeError(`host bits set in prefix: ${JSON.stringify(s)}`);
  return { network: addr, prefix, first: addr, last: (addr | ~mask) >>> 0 };
}

export function cidrContains(c: Cidr, addr: number): boolean {
  return addr >= c.first && addr <= c.last;
}

/** RFC 1071 Internet checksum over data (with an optional initial partial sum). */
export function internetChecksum(data: Uint8Array, start = 0, end = data.length, initial = 0): number {
  let sum = initial;
  let i = start;
  for (; i + 1 < end; i += 2) sum += (data[i]! << 8) | data[i + 1]!;
  if (i < end) sum += data[i]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** Unfolded 16-bit sum (for pseudo-headers); feed the result as `initial` to internetChecksum. */
export function partialSum(data: Uint8Array, start = 0, end = data.length, initial = 0): number {
  let sum = initial;
  let i = start;
  for (; i + 1 < end; i += 2) sum += (data[i]! << 8) | data[i + 1]!;
  if (i < end) sum += data[i]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}
