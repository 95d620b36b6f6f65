/*
 * Segment coalescing for TUN writes (IFF_VNET_HDR): consecutive IPv4 TCP or
 * UDP packets of one flow in a write batch become ONE super-packet with a
 * virtio_net_hdr asking the kernel for segmentation offload (TSO for TCP,
 * UDP_L4 GSO for UDP). The kernel then forwards, conntracks and NATs the
 * super-packet once and splits it where it has to (an egress device without
 * the offload, or a local socket), producing the original packets again.
 * This is what GRO does on a NIC's receive path, done here because a TUN
 * write skips GRO.
 *
 * A run coalesces only when the segments the kernel will cut are the packets
 * that came in: same IPv4 header (no options, not a fragment) but for the
 * length, ID and checksum; IDs consecutive (or DF set: RFC 6864 gives an
 * atomic datagram's ID no meaning, and Linux GRO merges those too); same
 * ports; every payload as long as the first except a shorter last one.
 * TCP adds: same header length and options, same ACK number and window,
 * consecutive sequence numbers, only ACK (and PSH, on the last packet)
 * set. Each packet's transport checksum must be valid (UDP's may be absent):
 * the kernel writes fresh checksums into the segments, so a packet damaged
 * before us must not come out with a correct one.
 */
#include <stdint.h>
#include <string.h>

#include "tunoff.h"

#define F_ACK 0x10
#define F_PSH 0x08

static inline uint16_t rd16(const unsigned char *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t rd32(const unsigned char *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline void wr16(unsigned char *p, uint16_t v) {
  p[0] = (unsigned char)(v >> 8);
  p[1] = (unsigned char)v;
}

/* One's-complement sum of p (RFC 1071), big-endian words, not folded. */
static uint64_t sum_bytes(uint64_t s, const unsigned char *p, size_t len) {
  while (len >= 4) {
    s += rd32(p);
    p += 4;
    len -= 4;
  }
  if (len >= 2) {
    s += rd16(p);
    p += 2;
    len -= 2;
  }
  if (len) s += (uint32_t)p[0] << 8;
  return s;
}

static uint16_t fold(uint64_t s) {
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return (uint16_t)s;
}

static uint64_t pseudo(const unsigned char *ip, unsigned proto, size_t l4len) {
  return sum_bytes(0, ip + 12, 8) + proto + l4len;
}

uint16_t l2s_ipv4_header_checksum(const unsigned char *ip, size_t ihl) {
  uint64_t s = sum_bytes(0, ip, 10) + sum_bytes(0, ip + 12, ihl - 12);
  return (uint16_t)~fold(s);
}

/* The packet's fields, when it is a candidate at all. */
typedef struct {
  unsigned proto;
  size_t l4hl;  /* transport header length */
  size_t plen;  /* payload length */
  unsigned flags;
} seg_t;

static int parse(const unsigned char *p, size_t len, seg_t *s) {
  if (len < 28 || len > 65535 || p[0] != 0x45) return 0;
  if (rd16(p + 2) != len) return 0;
  if (rd16(p + 6) & 0x3fff) return 0; /* MF or a fragment offset */
  unsigned proto = p[9];
  const unsigned char *l4 = p + 20;
  size_t l4len = len - 20;
  if (proto == 6) {
    if (l4len < 20) return 0;
    size_t thl = (size_t)(l4[12] >> 4) * 4;
    if (thl < 20 || thl > l4len) return 0;
    unsigned flags = l4[13];
    if ((flags & ~(unsigned)(F_ACK | F_PSH)) || !(flags & F_ACK)) return 0;
    if (l4[12] & 0x0f) return 0; /* reserved bits (AccECN) */
    s->l4hl = thl;
    s->flags = flags;
  } else if (proto == 17) {
    if (rd16(l4 + 4) != l4len) return 0;
    s->l4hl = 8;
    s->flags = 0;
  } else {
    return 0;
  }
  s->proto = proto;
  s->plen = l4len - s->l4hl;
  if (s->plen == 0) return 0;
  if (proto == 17 && rd16(l4 + 6) == 0) return 1; /* UDP without a checksum */
  return fold(sum_bytes(pseudo(p, proto, l4len), l4, l4len)) == 0xffff;
}

/*
 * Whether packet b (parsed as sb) may follow a, the last packet of the run
 * that began with first (gso = first's payload length).
 */
static int follows(const unsigned char *first, const unsigned char *a, const seg_t *sa, const unsigned char *b, const seg_t *sb,
                   size_t gso) {
  if (sb->proto != sa->proto || sb->l4hl != sa->l4hl) return 0;
  if (sa->plen != gso || sb->plen > gso) return 0; /* a shorter packet ends a run */
  if (first[1] != b[1] || first[8] != b[8] || memcmp(first + 12, b + 12, 8) != 0) return 0; /* TOS, TTL, addresses */
  int df = (b[6] & 0x40) != 0;
  if (df != ((first[6] & 0x40) != 0)) return 0;
  if (!df && rd16(b + 4) != (uint16_t)(rd16(a + 4) + 1)) return 0;
  const unsigned char *la = a + 20, *lb = b + 20;
  if (memcmp(la, lb, 4) != 0) return 0; /* ports */
  if (sb->proto == 6) {
    if (sa->flags & F_PSH) return 0; /* PSH ends a run */
    if (rd32(lb + 4) != rd32(la + 4) + (uint32_t)sa->plen) return 0;
    if (memcmp(la + 8, lb + 8, 4) != 0) return 0; /* ACK number */
    if (la[12] != lb[12] || memcmp(la + 14, lb + 14, 2) != 0) return 0; /* header length, window */
    if (rd16(lb + 18) != 0 || rd16(la + 18) != 0) return 0; /* urgent pointer */
    if (sb->l4hl > 20 && memcmp(first + 40, b + 40, sb->l4hl - 20) != 0) return 0; /* options */
  }
  return 1;
}

size_t l2s_coalesce_run(const l2s_pkt_t *pk, size_t n, size_t i, l2s_run_t *run) {
  seg_t s0, sa, sb;
  run->count = 1;
  run->hdr_len = 0;
  memset(&run->vnet, 0, sizeof run->vnet);
  const unsigned char *first = pk[i].data;
  if (!parse(first, pk[i].len, &s0)) return 1;
  size_t gso = s0.plen;
  size_t hl = 20 + s0.l4hl;
  size_t total = pk[i].len;
  size_t k = i + 1;
  sa = s0;
  while (k < n && k - i < L2S_COALESCE_MAX) {
    const unsigned char *b = pk[k].data;
    if (!parse(b, pk[k].len, &sb)) break;
    if (total + sb.plen > 65535) break;
    if (!follows(first, pk[k - 1].data, &sa, b, &sb, gso)) break;
    total += sb.plen;
    sa = sb;
    k++;
  }
  size_t count = k - i;
  if (count == 1) return 1;

  /* The super-packet's headers: the first packet's, with the total length,
   * a fresh IPv4 checksum, the last packet's TCP flags (PSH) and the
   * pseudo-header sum in the transport checksum (the kernel completes it per
   * segment: VIRTIO_NET_HDR_F_NEEDS_CSUM). */
  unsigned char *h = run->hdr;
  memcpy(h, first, hl);
  wr16(h + 2, (uint16_t)total);
  wr16(h + 10, 0);
  wr16(h + 10, l2s_ipv4_header_checksum(h, 20));
  size_t l4len = total - 20;
  if (s0.proto == 6) {
    h[20 + 13] = (unsigned char)sa.flags;
    wr16(h + 20 + 16, fold(pseudo(h, 6, l4len)));
    run->vnet.gso_type = L2S_VNET_GSO_TCPV4;
    run->vnet.csum_offset = 16;
  } else {
    wr16(h + 20 + 4, (uint16_t)l4len);
    wr16(h + 20 + 6, fold(pseudo(h, 17, l4len)));
    run->vnet.gso_type = L2S_VNET_GSO_UDP_L4;
    run->vnet.csum_offset = 6;
  }
  run->vnet.flags = L2S_VNET_F_NEEDS_CSUM;
  run->vnet.hdr_len = (uint16_t)hl;
  run->vnet.gso_size = (uint16_t)gso;
  run->vnet.csum_start = 20;
  run->hdr_len = hl;
  run->count = count;
  return count;
}

int l2s_complete_checksum(unsigned char *p, size_t len, size_t start, size_t offset) {
  if (start > len || offset + 2 > len - start) return 0;
  wr16(p + start + offset, (uint16_t)~fold(sum_bytes(0, p + start, len - start)));
  return 1;
}
