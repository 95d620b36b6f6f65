/**
 * Test helpers: build IPv4 / TCP / ICMP packets, and an Internet checksum
 * written independently of src/core (sum of words modulo 0xffff, RFC 1071 §2(1):
 * the one's complement sum is the integer sum reduced modulo 2^16 - 1).
 */

export function refOnesSum(bytes: Uint8Array): number {
  let total = 0;
  for (let i = 0; i < bytes.length; i += 2) {
    const hi = bytes[i] ?? 0;
    const lo = bytes[i + 1] ?? 0;
    total += hi * 256 + lo;
  }
  if (total === 0) return 0;
  const r = total % 0xffff;
  return r === 0 ? 0xffff : r;
}

/** The checksum field value for data whose checksum field is zero. */
export function refChecksum(bytes: Uint8Array): number {
  return 0xffff - refOnesSum(bytes);
}

function addr(s: string): number[] {
  return s.split('.').map(Number);
}

export interface IpOpts {
  src: string;
  dst: string;
  proto: number;
  payload: Uint8Array;
  id?: number;
  ttl?: number;
  /** Flags+fragment offset word (MF = 0x2000, offset in 8-byte units). */
  frag?: number;
  /** IPv4 options (multiple of 4 bytes). */
  options?: Uint8Array;
  /** Extra bytes after Total Length (link padding). */
  padding?: number;
}

export function ipv4(o: IpOpts): Buffer {
  const opt = o.options ?? new Uint8Array(0);
  const hlen = 20 + opt.length;
  const total = hlen + o.payload.length;
  const b = Buffer.alloc(total + (o.padding ?? 0));
  b[0] = 0x40 | (hlen >> 2);
  b.writeUInt16BE(total, 2);
  b.writeUInt16BE(o.id ?? 0x1234, 4);
  b.writeUInt16BE(o.frag ?? 0, 6);
  b[8] = o.ttl ?? 64;
  b[9] = o.proto;
  Buffer.from(addr(o.src)).copy(b, 12);
  Buffer.from(addr(o.dst)).copy(b, 16);
  Buffer.from(opt).copy(b, 20);
  b.writeUInt16BE(refChecksum(b.subarray(0, hlen)), 10);
  Buffer.from(o.payload).copy(b, hlen);
  return b;
}

/** TCP pseudo-header + segment checksum (RFC 9293 §3.1), computed from scratch. */
export function refTcpChecksum(packet: Uint8Array): number {
  const hlen = (packet[0]! & 0x0f) * 4;
  const total = (packet[2]! << 8) | packet[3]!;
  const seg = Uint8Array.from(packet.subarray(hlen, total));
  seg[16] = 0;
  seg[17] = 0;
  const pseudo = new Uint8Array(12 + seg.length);
  pseudo.set(packet.subarray(12, 20), 0);
  pseudo[9] = 6;
  pseudo[10] = seg.length >> 8;
  pseudo[11] = seg.length & 0xff;
  pseudo.set(seg, 12);
  return refChecksum(pseudo);
}

export interface TcpOpts {
  src: string;
  dst: string;
  flags: number;
  /** Raw option bytes (padded with EOL to a multiple of 4). */
  options?: number[];
  payload?: Uint8Array;
  frag?: number;
}

export const SYN = 0x02;
export const ACK = 0x10;
export const RST = 0x04;

export function tcp(o: TcpOpts): Buffer {
  const opts = [...(o.options ?? [])];
  while (opts.length % 4) opts.push(0);
  const payload = o.payload ?? new Uint8Array(0);
  const seg = Buffer.alloc(20 + opts.length + payload.length);
  seg.writeUInt16BE(40000, 0);
  seg.writeUInt16BE(443, 2);
  seg.writeUInt32BE(0x01020304, 4);
  seg.writeUInt32BE(0, 8);
  seg[12] = ((20 + opts.length) / 4) << 4;
  seg[13] = o.flags;
  seg.writeUInt16BE(64240, 14);
  Buffer.from(opts).copy(seg, 20);
  Buffer.from(payload).copy(seg, 20 + opts.length);
  const p = ipv4({ src: o.src, dst: o.dst, proto: 6, payload: seg, ...(o.frag !== undefined ? { frag: o.frag } : {}) });
  const hlen = 20;
  p.writeUInt16BE(refTcpChecksum(p), hlen + 16);
  return p;
}

export function mssOption(v: number): number[] {
  return [2, 4, v >> 8, v & 0xff];
}

/** Reads the MSS option value of a TCP packet (IPv4 header without options), or undefined. */
export function readMss(p: Uint8Array): number | undefined {
  const t = (p[0]! & 0x0f) * 4;
  const end = t + (p[t + 12]! >> 4) * 4;
  let i = t + 20;
  while (i < end) {
    const k = p[i]!;
    if (k === 0) return undefined;
    if (k === 1) {
      i++;
      continue;
    }
    const l = p[i + 1]!;
    if (k === 2 && l === 4) return (p[i + 2]! << 8) | p[i + 3]!;
    if (l < 2) return undefined;
    i += l;
  }
  return undefined;
}

/** ICMP Echo Request (RFC 792) with a valid checksum. */
export function icmpEcho(src: string, dst: string, ident: number, seq: number, data = Buffer.from('l2tpsec-ping')): Buffer {
  const m = Buffer.alloc(8 + data.length);
  m[0] = 8;
  m.writeUInt16BE(ident, 4);
  m.writeUInt16BE(seq, 6);
  data.copy(m, 8);
  m.writeUInt16BE(refChecksum(m), 2);
  return ipv4({ src, dst, proto: 1, payload: m });
}
