/**
 * The decrypted ESP payload in transport mode (RFC 4303 §2, §2.4):
 *
 *   | inner UDP header (8) | L2TP ... | Padding 1,2,3.. | Pad Length | Next Header=17 |
 *
 * and the inner UDP header (RFC 768). In transport mode behind NAT the inner
 * UDP checksum is not checked: ESP authenticated the bytes and the checksum
 * covers the pre-NAT addresses (RFC 3948 §3.1.2).
 *
 * In tunnel mode (RFC 4303 §3.1.2) the payload is a whole IPv4 packet:
 *
 *   | IPv4 header (IHL*4) | ... up to Total Length | TFC padding? | Padding 1,2,3.. | Pad Length | Next Header=4 |
 *
 * checked only for being plausibly IPv4 (version, IHL, Total Length within the
 * bytes; TFC padding after Total Length, RFC 4303 §2.4, is trimmed). Who may
 * send what (the source address) is the session layer's check, as for L2TP.
 */
import type { EspInDropReason } from './drops.js';

/** IANA protocol number of UDP (the only Next Header accepted in transport mode). */
export const IPPROTO_UDP = 17;
/** IANA protocol number of IP-in-IP, the Next Header of an IPv4 packet in tunnel mode (RFC 4303 §2.6). */
export const IPPROTO_IPIP = 4;
/** RFC 791: the shortest IPv4 header. */
export const IPV4_HEADER_LEN = 20;
/** RFC 4303 §2.6: "no next header", a dummy packet. */
export const IPPROTO_NONE = 59;
export const L2TP_PORT = 1701;
export const UDP_HEADER_LEN = 8;

export interface InnerUdp {
  srcPort: number;
  payload: Uint8Array;
}

/**
 * Check the ESP trailer of a plaintext view pt[start, end) and the inner UDP
 * header. Returns the inner source port and the L2TP bytes (a view), or the
 * drop reason. Never throws.
 */
/**
 * The end of the inner bytes of pt[start, end) after the ESP trailer (Padding, Pad
 * Length, Next Header), or -1 for a pad length past the start, -2 for padding that is
 * not 1, 2, 3, ... (RFC 4303 §2.4, when the cipher does not say otherwise).
 */
function innerEndOf(pt: Uint8Array, start: number, end: number): number {
  if (end - start < 2) return -1;
  const padLen = pt[end - 2]!;
  const innerEnd = end - 2 - padLen;
  if (innerEnd < start) return -1;
  for (let i = 0; i < padLen; i++) if (pt[innerEnd + i] !== i + 1) return -2;
  return innerEnd;
}

export function parseTransportPayload(pt: Uint8Array, start: number, end: number): InnerUdp | EspInDropReason {
  const innerEnd = innerEndOf(pt, start, end);
  if (innerEnd < 0) return innerEnd === -1 ? 'bad-pad-length' : 'bad-padding';
  const nextHeader = pt[end - 1]!;
  if (nextHeader !== IPPROTO_UDP) return nextHeader === IPPROTO_NONE ? 'dummy-packet' : 'not-udp';
  if (innerEnd - start < UDP_HEADER_LEN) return 'inner-truncated';
  const srcPort = (pt[start]! << 8) | pt[start + 1]!;
  const dstPort = (pt[start + 2]! << 8) | pt[start + 3]!;
  const udpLen = (pt[start + 4]! << 8) | pt[start + 5]!;
  if (dstPort !== L2TP_PORT) return 'not-l2tp';
  if (srcPort === 0) return 'bad-inner-port';
  // The UDP length may be shorter than the inner bytes (RFC 4303 §2.4 TFC padding), never longer.
  if (udpLen < UDP_HEADER_LEN || start + udpLen > innerEnd) return 'bad-inner-length';
  return { srcPort, payload: pt.subarray(start + UDP_HEADER_LEN, start + udpLen) };
}

/**
 * The Total Length of a plausible IPv4 packet at pt[start, start + avail):
 * version 4, IHL >= 5, IHL*4 <= Total Length <= avail. -1 if not. Never throws.
 */
export function ipv4Length(pt: Uint8Array, start: number, avail: number): number {
  if (avail < IPV4_HEADER_LEN) return -1;
  const vihl = pt[start]!;
  const ihl = (vihl & 0x0f) << 2;
  const total = (pt[start + 2]! << 8) | pt[start + 3]!;
  if (vihl >>> 4 !== 4 || ihl < IPV4_HEADER_LEN || total < ihl || total > avail) return -1;
  return total;
}

/**
 * Tunnel mode: check the ESP trailer of pt[start, end) and that the inner
 * bytes are an IPv4 packet. Returns the packet (a view, TFC padding trimmed)
 * or the drop reason. Never throws.
 */
export function parseTunnelPayload(pt: Uint8Array, start: number, end: number): Uint8Array | EspInDropReason {
  const innerEnd = innerEndOf(pt, start, end);
  if (innerEnd < 0) return innerEnd === -1 ? 'bad-pad-length' : 'bad-padding';
  const nextHeader = pt[end - 1]!;
  if (nextHeader !== IPPROTO_IPIP) return nextHeader === IPPROTO_NONE ? 'dummy-packet' : 'not-ipv4';
  const total = ipv4Length(pt, start, innerEnd - start);
  if (total < 0) return 'bad-inner-ipv4';
  return pt.subarray(start, start + total);
}

/**
 * Tunnel mode: write the plaintext of one outbound packet at buf[off]: the
 * IPv4 packet, the monotonic padding, Pad Length and Next Header 4. Returns
 * the end offset; `paddedLen` as for writeTransportPayload.
 */
export function writeTunnelPayload(buf: Buffer, off: number, packet: Uint8Array, paddedLen: number): number {
  buf.set(packet, off);
  const padLen = paddedLen - packet.length - 2;
  let p = off + packet.length;
  for (let i = 1; i <= padLen; i++) buf[p++] = i;
  buf[p++] = padLen;
  buf[p++] = IPPROTO_IPIP;
  return p;
}

/**
 * Write the plaintext of one outbound packet at buf[off]: UDP header
 * (1701 → dstPort, checksum 0: legal for IPv4, RFC 768), `head` then the payload, the
 * monotonic padding, Pad Length and Next Header 17. Returns the end offset.
 * `paddedLen` is the total plaintext length (a multiple of the block size).
 */
export function writeTransportPayload(buf: Buffer, off: number, dstPort: number, payload: Uint8Array, paddedLen: number, head?: Uint8Array): number {
  const headLen = head ? head.length : 0;
  const udpLen = UDP_HEADER_LEN + headLen + payload.length;
  buf[off] = L2TP_PORT >>> 8;
  buf[off + 1] = L2TP_PORT & 0xff;
  buf[off + 2] = dstPort >>> 8;
  buf[off + 3] = dstPort & 0xff;
  buf[off + 4] = udpLen >>> 8;
  buf[off + 5] = udpLen & 0xff;
  buf[off + 6] = 0;
  buf[off + 7] = 0;
  if (head) buf.set(head, off + UDP_HEADER_LEN);
  buf.set(payload, off + UDP_HEADER_LEN + headLen);
  const padLen = paddedLen - udpLen - 2;
  let p = off + udpLen;
  for (let i = 1; i <= padLen; i++) buf[p++] = i;
  buf[p++] = padLen;
  buf[p++] = IPPROTO_UDP;
  return p;
}

/** Plaintext length for an inner datagram of innerLen bytes: inner + 2 rounded up to the block size. */
export function paddedLength(innerLen: number, blockSize: number): number {
  const n = innerLen + 2;
  return n + ((blockSize - (n % blockSize)) % blockSize);
}
