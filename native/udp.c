/*
 * l2tpsec UDP batch I/O (the ESP-in-UDP data socket, UDP 4500): recvmmsg into
 * and sendmmsg out of buffers that JavaScript allocated and reads and writes
 * as views. One native call and one JS callback per batch of datagrams: no
 * per-datagram Buffer, callback or closure. IPv4 only (like the dgram path).
 *
 *   udpOpen(address: string, port: number, rcvbuf: number, sndbuf: number,
 *           rx: ArrayBuffer, rxMeta: ArrayBuffer, tx: ArrayBuffer, txMeta: ArrayBuffer,
 *           slot: number, batch: number, cb: (n: number) => void)
 *       -> { fd: number, port: number, rcvbuf: number (what the kernel set), handle: External }
 *   udpSend(handle, n: number) -> number   (datagrams the kernel accepted)
 *   udpSetGso(handle, on: boolean) -> boolean
 *   udpLastError(handle) -> number          (errno of the last failed send, 0 if none)
 *   udpClose(handle) -> undefined
 *
 * Receiving: rx holds `batch` slots of `slot` bytes; datagram i lands at
 * i * slot, and rxMeta (Uint32 x 4 per slot) gets [length, IPv4 source address
 * as a host-order u32, source port, 1 if truncated]. On readability up to
 * RX_ROUNDS recvmmsg calls are made, each followed by cb(n) (the JS side must
 * be done with the slots when cb returns: the next call reuses them). A
 * receive error other than EAGAIN/EINTR calls cb(-errno) (ICMP errors queued
 * on the socket, e.g. ECONNREFUSED, are read and ignored this way too).
 *
 * Sending: JS writes datagram k anywhere in tx and txMeta (Uint32 x 4 per
 * datagram) = [offset, length, destination address (host-order u32), port];
 * udpSend(handle, n) sends the first n with sendmmsg. A datagram the kernel
 * refuses with an error is skipped (its errno kept for udpLastError); EAGAIN
 * ends the batch. Returns how many were accepted.
 *
 * UDP GSO (UDP_SEGMENT, Linux 4.18): consecutive datagrams to one destination
 * that lie back to back in tx, all of one size but the last (which may be
 * shorter), go as ONE message the kernel cuts into datagrams late (a burst of
 * a bulk flow costs one trip through the stack instead of one per datagram).
 * The wire sees the same datagrams. udpSetGso(handle, on) turns it off (or on
 * again); it turns itself off for good when the kernel refuses a GSO send
 * (EIO, EINVAL, ENOPROTOOPT, EOPNOTSUPP) and those datagrams go one by one.
 *
 * Lifetime as in tun.c (l2s_polled_t, common.h): the uv poll handle and the JS External each own the
 * state; the buffers are held by references until close.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "common.h"

#define RX_ROUNDS 8
#define BATCH_LIMIT 1024
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif
/* At most this many segments and this many bytes (IPv4 total length) in one GSO send. */
#define GSO_MAX_SEGS 64
#define GSO_MAX_BYTES (65535 - 20 - 8)
#define GSO_CMSG_SPACE CMSG_SPACE(sizeof(uint16_t))

typedef struct {
  l2s_polled_t p; /* first: the poll handle, fd, callback and lifetime (common.h) */
  int last_errno;
  napi_ref bufs[4];
  unsigned char *rx;
  uint32_t *rx_meta;
  unsigned char *tx;
  size_t tx_len;
  uint32_t *tx_meta;
  uint32_t slot;
  uint32_t batch;
  struct mmsghdr *rmsg;
  struct iovec *riov;
  struct sockaddr_in *raddr;
  struct mmsghdr *smsg;
  struct iovec *siov;
  struct sockaddr_in *saddr;
  /* Per message of a send: first datagram and datagram count; cmsg space for UDP_SEGMENT. */
  uint32_t *sfirst;
  uint32_t *scount;
  unsigned char *scmsg;
  int gso;
} udp_t;

static void udp_free(l2s_polled_t *p) {
  udp_t *u = (udp_t *)p;
  free(u->rmsg);
  free(u->riov);
  free(u->raddr);
  free(u->smsg);
  free(u->siov);
  free(u->saddr);
  free(u->sfirst);
  free(u->scount);
  free(u->scmsg);
  free(u);
}

/* At close: the buffers go with the callback. */
static void udp_drop_refs(l2s_polled_t *p) {
  udp_t *u = (udp_t *)p;
  for (int i = 0; i < 4; i++) {
    if (u->bufs[i]) napi_delete_reference(p->env, u->bufs[i]);
    u->bufs[i] = NULL;
  }
  u->rx = u->tx = NULL;
  u->rx_meta = u->tx_meta = NULL;
}

/* cb(n); an exception it throws becomes an uncaught exception. Returns 0 if the socket closed meanwhile. */
static int udp_invoke(udp_t *u, int32_t n) {
  napi_value arg;
  napi_create_int32(u->p.env, n, &arg);
  l2s_polled_call(&u->p, 1, &arg);
  return !u->p.closed;
}

static void udp_on_poll(uv_poll_t *h, int status, int events) {
  udp_t *u = (udp_t *)h->data;
  if (u->p.closed) return;
  napi_env env = u->p.env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  if (status < 0) {
    udp_invoke(u, status);
    napi_close_handle_scope(env, scope);
    return;
  }
  for (int round = 0; round < RX_ROUNDS && !u->p.closed; round++) {
    for (uint32_t i = 0; i < u->batch; i++) {
      u->rmsg[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
      u->rmsg[i].msg_hdr.msg_flags = 0;
    }
    int n;
    do n = recvmmsg(u->p.fd, u->rmsg, u->batch, MSG_DONTWAIT, NULL);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
      int e = errno;
      if (e == EAGAIN || e == EWOULDBLOCK) break;
      if (!udp_invoke(u, -e)) break;
      continue; /* an ICMP error consumed: the datagrams behind it are still there */
    }
    if (n == 0) break;
    uint32_t *m = u->rx_meta;
    for (int i = 0; i < n; i++) {
      const struct sockaddr_in *a = &u->raddr[i];
      m[4 * i] = u->rmsg[i].msg_len;
      m[4 * i + 1] = a->sin_family == AF_INET ? ntohl(a->sin_addr.s_addr) : 0;
      m[4 * i + 2] = a->sin_family == AF_INET ? ntohs(a->sin_port) : 0;
      m[4 * i + 3] = (u->rmsg[i].msg_hdr.msg_flags & MSG_TRUNC) ? 1 : 0;
    }
    if (!udp_invoke(u, n)) break;
    if ((uint32_t)n < u->batch) break;
  }
  napi_close_handle_scope(env, scope);
}

static napi_value js_udp_open(napi_env env, napi_callback_info info) {
  napi_value argv[11];
  size_t argc = l2s_args(env, info, argv, 11);
  char addr[64];
  size_t alen = 0;
  uint32_t port = 0, rcvbuf = 0, sndbuf = 0, slot = 0, batch = 0;
  void *rx, *rxm, *tx, *txm;
  size_t rxl, rxml, txl, txml;
  napi_valuetype vt = napi_undefined;
  if (argc < 11 || napi_get_value_string_utf8(env, argv[0], addr, sizeof addr, &alen) != napi_ok ||
      napi_get_value_uint32(env, argv[1], &port) != napi_ok || napi_get_value_uint32(env, argv[2], &rcvbuf) != napi_ok ||
      napi_get_value_uint32(env, argv[3], &sndbuf) != napi_ok || !l2s_arraybuffer(env, argv[4], &rx, &rxl) ||
      !l2s_arraybuffer(env, argv[5], &rxm, &rxml) || !l2s_arraybuffer(env, argv[6], &tx, &txl) || !l2s_arraybuffer(env, argv[7], &txm, &txml) ||
      napi_get_value_uint32(env, argv[8], &slot) != napi_ok || napi_get_value_uint32(env, argv[9], &batch) != napi_ok ||
      napi_typeof(env, argv[10], &vt) != napi_ok || vt != napi_function) {
    napi_throw_type_error(env, NULL,
                          "udpOpen(address, port, rcvbuf, sndbuf, rx, rxMeta, tx, txMeta, slot, batch, cb): wrong argument types");
    return NULL;
  }
  if (port > 65535 || batch == 0 || batch > BATCH_LIMIT || slot == 0 || (size_t)slot * batch > rxl ||
      rxml < (size_t)batch * 16 || txml < (size_t)batch * 16 || ((uintptr_t)rxm & 3) || ((uintptr_t)txm & 3)) {
    napi_throw_range_error(env, NULL, "udpOpen: port, slot, batch or buffer sizes out of range");
    return NULL;
  }
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
    napi_throw_type_error(env, NULL, "udpOpen: address must be an IPv4 address");
    return NULL;
  }
  char msg[256];
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return l2s_throw_errno(env, errno, "socket(AF_INET, SOCK_DGRAM) failed");
  /* Socket buffers first: with CAP_NET_ADMIN past net.core.[rw]mem_max (a burst of hang-ups
   * must fit), else up to it; a failure is not fatal. */
  if (rcvbuf && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  if (sndbuf && setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf) < 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    int e = errno;
    close(fd);
    snprintf(msg, sizeof msg, "bind %s:%u failed: %s", addr, port, strerror(e));
    return l2s_throw_errno(env, e, msg);
  }
  struct sockaddr_in bound;
  socklen_t blen = sizeof bound;
  getsockname(fd, (struct sockaddr *)&bound, &blen);

  udp_t *u = calloc(1, sizeof *u);
  uv_loop_t *loop = NULL;
  if (u) {
    u->rmsg = calloc(batch, sizeof *u->rmsg);
    u->riov = calloc(batch, sizeof *u->riov);
    u->raddr = calloc(batch, sizeof *u->raddr);
    u->smsg = calloc(batch, sizeof *u->smsg);
    u->siov = calloc(batch, sizeof *u->siov);
    u->saddr = calloc(batch, sizeof *u->saddr);
    u->sfirst = calloc(batch, sizeof *u->sfirst);
    u->scount = calloc(batch, sizeof *u->scount);
    u->scmsg = calloc(batch, GSO_CMSG_SPACE);
  }
  if (!u || !u->rmsg || !u->riov || !u->raddr || !u->smsg || !u->siov || !u->saddr || !u->sfirst || !u->scount || !u->scmsg ||
      napi_get_uv_event_loop(env, &loop) != napi_ok || !loop) {
    if (u) udp_free(&u->p);
    close(fd);
    return l2s_throw_errno(env, ENOMEM, "cannot set up UDP socket state");
  }
  u->p.fd = fd;
  u->p.free_state = udp_free;
  u->p.drop_refs = udp_drop_refs;
  u->rx = rx;
  u->rx_meta = rxm;
  u->tx = tx;
  u->tx_len = txl;
  u->tx_meta = txm;
  u->slot = slot;
  u->batch = batch;
  u->gso = 1;
  for (uint32_t i = 0; i < batch; i++) {
    u->riov[i].iov_base = u->rx + (size_t)i * slot;
    u->riov[i].iov_len = slot;
    u->rmsg[i].msg_hdr.msg_iov = &u->riov[i];
    u->rmsg[i].msg_hdr.msg_iovlen = 1;
    u->rmsg[i].msg_hdr.msg_name = &u->raddr[i];
    u->rmsg[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
    u->smsg[i].msg_hdr.msg_iov = &u->siov[i];
    u->smsg[i].msg_hdr.msg_iovlen = 1;
    u->smsg[i].msg_hdr.msg_name = &u->saddr[i];
    u->smsg[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
  }
  napi_value ext, obj, v;
  if (!l2s_polled_start(env, &u->p, loop, argv[10], "l2tpsec.udp", udp_on_poll, &ext)) return NULL;
  for (int i = 0; i < 4; i++) napi_create_reference(env, argv[4 + i], 1, &u->bufs[i]);
  napi_create_object(env, &obj);
  napi_create_int32(env, fd, &v);
  napi_set_named_property(env, obj, "fd", v);
  napi_create_uint32(env, ntohs(bound.sin_port), &v);
  napi_set_named_property(env, obj, "port", v);
  int got = 0;
  socklen_t glen = sizeof got;
  getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &glen);
  napi_create_int32(env, got, &v);
  napi_set_named_property(env, obj, "rcvbuf", v);
  napi_set_named_property(env, obj, "handle", ext);
  return obj;
}

static udp_t *udp_of(napi_env env, napi_value v) {
  void *data = NULL;
  if (!l2s_external(env, v, &data)) {
    napi_throw_type_error(env, NULL, "not a UDP handle");
    return NULL;
  }
  return (udp_t *)data;
}

/* Send datagrams [first, first + count) of tx one message each (after a GSO refusal); returns how many went. */
static uint32_t send_singly(udp_t *u, uint32_t first, uint32_t count) {
  uint32_t ok = 0;
  for (uint32_t k = first; k < first + count; k++) {
    const uint32_t *m = &u->tx_meta[4 * k];
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(m[2]);
    a.sin_port = htons((uint16_t)m[3]);
    ssize_t r;
    do r = sendto(u->p.fd, u->tx + m[0], m[1], 0, (struct sockaddr *)&a, sizeof a);
    while (r < 0 && errno == EINTR);
    if (r < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      u->last_errno = errno;
      continue;
    }
    ok++;
  }
  return ok;
}

static napi_value js_udp_send(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  size_t argc = l2s_args(env, info, argv, 2);
  uint32_t n = 0;
  if (argc < 2) {
    napi_throw_type_error(env, NULL, "udpSend(handle, n)");
    return NULL;
  }
  udp_t *u = udp_of(env, argv[0]);
  if (!u) return NULL;
  if (napi_get_value_uint32(env, argv[1], &n) != napi_ok || n > u->batch) {
    napi_throw_range_error(env, NULL, "udpSend: n must be 0..batch");
    return NULL;
  }
  uint32_t accepted = 0;
  if (u->p.closed) n = 0;
  for (uint32_t i = 0; i < n; i++) {
    const uint32_t *m = &u->tx_meta[4 * i];
    if ((size_t)m[0] > u->tx_len || (size_t)m[1] > u->tx_len - m[0]) {
      napi_throw_range_error(env, NULL, "udpSend: datagram outside the send buffer");
      return NULL;
    }
  }
  /* One message per datagram, or per GSO run (same destination, back to back, equal sizes but the last). */
  uint32_t msgs = 0;
  for (uint32_t i = 0; i < n;) {
    const uint32_t *m = &u->tx_meta[4 * i];
    uint32_t seg = m[1], total = m[1], j = i + 1;
    if (u->gso && seg > 0) {
      while (j < n && j - i < GSO_MAX_SEGS) {
        const uint32_t *p = &u->tx_meta[4 * (j - 1)], *q = &u->tx_meta[4 * j];
        if (p[1] != seg || q[2] != m[2] || q[3] != m[3] || q[0] != p[0] + p[1] || q[1] == 0 || q[1] > seg ||
            total + q[1] > GSO_MAX_BYTES)
          break;
        total += q[1];
        j++;
      }
    }
    struct msghdr *h = &u->smsg[msgs].msg_hdr;
    u->siov[msgs].iov_base = u->tx + m[0];
    u->siov[msgs].iov_len = total;
    u->saddr[msgs].sin_family = AF_INET;
    u->saddr[msgs].sin_addr.s_addr = htonl(m[2]);
    u->saddr[msgs].sin_port = htons((uint16_t)m[3]);
    if (j - i > 1) {
      unsigned char *c = u->scmsg + (size_t)msgs * GSO_CMSG_SPACE;
      memset(c, 0, GSO_CMSG_SPACE);
      h->msg_control = c;
      h->msg_controllen = GSO_CMSG_SPACE;
      struct cmsghdr *cm = CMSG_FIRSTHDR(h);
      cm->cmsg_level = SOL_UDP;
      cm->cmsg_type = UDP_SEGMENT;
      cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      uint16_t gs = (uint16_t)seg;
      memcpy(CMSG_DATA(cm), &gs, sizeof gs);
    } else {
      h->msg_control = NULL;
      h->msg_controllen = 0;
    }
    u->sfirst[msgs] = i;
    u->scount[msgs] = j - i;
    msgs++;
    i = j;
  }
  uint32_t start = 0;
  while (start < msgs) {
    int r = sendmmsg(u->p.fd, u->smsg + start, msgs - start, 0);
    if (r < 0) {
      int e = errno;
      if (e == EINTR) continue;
      if (e == EAGAIN || e == EWOULDBLOCK) break;
      if (u->scount[start] > 1 && (e == EIO || e == EINVAL || e == ENOPROTOOPT || e == EOPNOTSUPP)) {
        /* the kernel or the route cannot do UDP GSO: never again, and these go one by one */
        u->gso = 0;
        accepted += send_singly(u, u->sfirst[start], u->scount[start]);
      } else {
        u->last_errno = e; /* refused (e.g. EPERM, ENETUNREACH, EMSGSIZE): skip this message */
      }
      start++;
      continue;
    }
    for (int k = 0; k < r; k++) accepted += u->scount[start + k];
    start += (uint32_t)r;
  }
  napi_value out;
  napi_create_uint32(env, accepted, &out);
  return out;
}

static napi_value js_udp_set_gso(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  size_t argc = l2s_args(env, info, argv, 2);
  bool on = false;
  if (argc < 2 || napi_get_value_bool(env, argv[1], &on) != napi_ok) {
    napi_throw_type_error(env, NULL, "udpSetGso(handle, on)");
    return NULL;
  }
  udp_t *u = udp_of(env, argv[0]);
  if (!u) return NULL;
  u->gso = on ? 1 : 0;
  napi_value out;
  napi_get_boolean(env, u->gso != 0, &out);
  return out;
}

static napi_value js_udp_last_error(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  size_t argc = l2s_args(env, info, argv, 1);
  if (argc < 1) return NULL;
  udp_t *u = udp_of(env, argv[0]);
  if (!u) return NULL;
  napi_value out;
  napi_create_int32(env, u->last_errno, &out);
  u->last_errno = 0;
  return out;
}

static napi_value js_udp_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  size_t argc = l2s_args(env, info, argv, 1);
  if (argc < 1) {
    napi_throw_type_error(env, NULL, "udpClose(handle)");
    return NULL;
  }
  udp_t *u = udp_of(env, argv[0]);
  if (u) l2s_polled_close(&u->p);
  return NULL;
}

void l2s_udp_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"udpOpen", NULL, js_udp_open, NULL, NULL, NULL, napi_default, NULL},
      {"udpSend", NULL, js_udp_send, NULL, NULL, NULL, napi_default, NULL},
      {"udpSetGso", NULL, js_udp_set_gso, NULL, NULL, NULL, napi_default, NULL},
      {"udpLastError", NULL, js_udp_last_error, NULL, NULL, NULL, napi_default, NULL},
      {"udpClose", NULL, js_udp_close, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
