/* Segment coalescing for TUN writes with IFF_VNET_HDR (tunoff.c). */
#ifndef L2S_TUNOFF_H
#define L2S_TUNOFF_H
#include <stddef.h>
#include <stdint.h>

/* struct virtio_net_hdr in the host's byte order (TUN's default on little-endian hosts). */
typedef struct {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len;
  uint16_t gso_size;
  uint16_t csum_start;
  uint16_t csum_offset;
} l2s_vnet_hdr_t;

#define L2S_VNET_F_NEEDS_CSUM 1
#define L2S_VNET_GSO_NONE 0
#define L2S_VNET_GSO_TCPV4 1
#define L2S_VNET_GSO_UDP_L4 5 /* Linux 6.2+ */

/* Most packets in one super-packet. */
#define L2S_COALESCE_MAX 64

typedef struct {
  const unsigned char *data;
  size_t len;
} l2s_pkt_t;

typedef struct {
  size_t count;   /* packets in the run (1: write the packet as it is, vnet all zero) */
  size_t hdr_len; /* count > 1: bytes of hdr, the super-packet's IPv4 + transport header */
  l2s_vnet_hdr_t vnet;
  unsigned char hdr[20 + 60];
} l2s_run_t;

/*
 * The run of packets starting at pk[i] that becomes one super-packet; returns
 * its length (>= 1). For count > 1 the super-packet is run->hdr followed by
 * the payload of each packet (after its own 20 + transport header bytes).
 */
size_t l2s_coalesce_run(const l2s_pkt_t *pk, size_t n, size_t i, l2s_run_t *run);

/* The IPv4 header checksum over ihl bytes (the checksum field skipped). */
uint16_t l2s_ipv4_header_checksum(const unsigned char *ip, size_t ihl);

/* Writes the Internet checksum of p[start..len) at start+offset (NEEDS_CSUM on read); 0 when out of bounds. */
int l2s_complete_checksum(unsigned char *p, size_t len, size_t start, size_t offset);
#endif
