/**
 * TCP MSS clamping on SYN segments, in place, with the checksum fixed
 * incrementally (RFC 1624 §3, Eqn. 3: HC' = ~(~HC + ~m + m')).
 *
 * TCP header (RFC 9293 §3.1): flags at byte 13 (SYN = 0x02), Data Offset in
 * the high nibble of byte 12, checksum at bytes 16-17, options from byte 20.
 * MSS option (RFC 9293 §3.2): kind 2, length 4, 16-bit value.
 */

const TCP_SYN = 0x02;
const OPT_EOL = 0;
const OPT_NOP = 1;
const OPT_MSS = 2;

/** RFC 1624 Eqn. 3 for one 16-bit word m → m'. */
export function checksumReplace16(hc: number, m: number, mNew: number): number {
  let s = (~hc & 0xffff) + (~m & 0xffff) + (mNew & 0xffff);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

function swap16(v: number): number {
  return ((v & 0xff) << 8) | (v >>> 8);
}

/**
 * Lowers the MSS option of a TCP SYN to `mss` when it is larger. `hlen` is the
 * IPv4 header length, `total` the IPv4 Total Length (already validated against
 * p.length). Non-first fragments, non-SYNs, truncated headers and malformed
 * option lists are left untouched. Returns true when the packet was changed.
 */
export function clampTcpMss(p: Uint8Array, hlen: number, total: number, mss: number): boolean {
  if ((((p[6]! << 8) | p[7]!) & 0x1fff) !== 0) return false;
  const t = hlen;
  if (total - t < 20) return false;
  if ((p[t + 13]! & TCP_SYN) === 0) return false;
  const doff = (p[t + 12]! >>> 4) << 2;
  if (doff < 20 || t + doff > total) return false;
  const end = t + doff;
  let i = t + 20;
  while (i < end) {
    const kind = p[i]!;
    if (kind === OPT_EOL) return false;
    if (kind === OPT_NOP) {
      i++;
      continue;
    }
    if (i + 1 >= end) return false;
    const len = p[i + 1]!;
    if (len < 2 || i + len > end) return false;
    if (kind === OPT_MSS && len === 4) {
      const at = i + 2;
      const old = (p[at]! << 8) | p[at + 1]!;
      if (old <= mss) return false;
      const hc = (p[t + 16]! << 8) | p[t + 17]!;
      // Words are aligned to the TCP header (its start is a multiple of 4): a
      // value at an odd offset adds its bytes swapped into the sum.
      const odd = ((at - t) & 1) === 1;
      const fixed = odd ? checksumReplace16(hc, swap16(old), swap16(mss)) : checksumReplace16(hc, old, mss);
      p[at] = mss >>> 8;
      p[at + 1] = mss & 0xff;
      p[t + 16] = fixed >>> 8;
      p[t + 17] = fixed & 0xff;
      return true;
    }
    i += len;
  }
  return false;
}
