/*
 * l2tpsec TUN addon: open a Linux TUN device (IFF_TUN | IFF_NO_PI, and
 * IFF_VNET_HDR when asked) and move BATCHES of IPv4 packets between it and
 * JavaScript without blocking the event loop.
 *
 *   open(name: string, cb: (batch: Buffer | null, lengths: number[] | Error) => void, vnetHdr?: boolean)
 *       -> { fd: number, name: string, vnetHdr: boolean, handle: External }
 *   write(fd: number, packets: Uint8Array[], vnetHdr?: boolean) -> number   (packets accepted)
 *   close(handle: External) -> undefined
 *   coalesce(packets: Uint8Array[]) -> Buffer[]   (what a vnetHdr write hands the kernel; for tests)
 *   tunStats() -> { superPackets, coalesced, readDropped, gsoRefused }
 *
 * Reading: the non-blocking fd is watched with a libuv poll handle; on
 * readability we read() until EAGAIN or BATCH_MAX packets and hand the whole
 * batch to cb in one call: cb(batch, lengths), the packets back to back in
 * one Buffer (one allocation per batch; the JS side cuts views). libuv polls level-triggered, so a batch cut at
 * BATCH_MAX is continued on the next loop turn. A read error (e.g. the
 * interface was deleted) stops polling and calls cb(null, err) once. With
 * IFF_VNET_HDR each read starts with a virtio_net_hdr, which is stripped (no
 * receive offloads are enabled, so it never asks for segmentation).
 *
 * Writing: a TUN write is exactly one packet, or with IFF_VNET_HDR one
 * super-packet: runs of TCP or UDP packets of one flow are coalesced into one
 * write that asks the kernel for segmentation offload (tunoff.c), so the
 * kernel forwards and NATs the run once. EAGAIN stops the batch and the count
 * written so far is returned; EINTR is retried; any other errno on the FIRST
 * packet throws an Error with .code, on a later packet it stops the batch
 * (the caller sees count < length). A kernel refusing the offload (EINVAL) is
 * remembered and the packets go one by one from then on.
 *
 * Lifetime: the state struct is owned by two parties, the uv poll handle
 * (released in the uv_close callback) and the JS External (released by its
 * finalizer); it is freed when both let go. While open, a strong reference
 * keeps the External alive, like a socket; close() drops it (l2s_polled_t in
 * common.h, shared with udp.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>
#include <uv.h>

#include "common.h"
#include "tunoff.h"

#ifndef IFF_VNET_HDR
#define IFF_VNET_HDR 0x4000
#endif
#ifndef TUNSETOFFLOAD
#define TUNSETOFFLOAD _IOW('T', 208, unsigned int)
#endif

#define BATCH_MAX 256
/* Largest possible TUN packet; every read offers at least this much room. */
#define MAX_PACKET 65536
/* Reads land back to back in this slab; a batch also ends when less than
 * MAX_PACKET is left (at MTU 1500 that is about 300 packets, so BATCH_MAX
 * usually ends it first). */
#define SLAB_SIZE (512 * 1024)

typedef struct {
  l2s_polled_t p; /* first: the poll handle, fd, callback and lifetime (common.h) */
  unsigned char *scratch;
  int vnet; /* IFF_VNET_HDR: every read and write starts with a virtio_net_hdr */
  char name[IFNAMSIZ];
} tun_t;

/* Process-wide: the kernel refused a segmentation offload write (EINVAL):
 * write packets one by one from then on. */
static int gso_refused = 0;
/* Super-packets written, and the packets they carried. */
static double stat_super = 0, stat_coalesced = 0;
/* Reads dropped: a segmentation offload packet (never asked for) or a bad checksum offset. */
static double stat_read_dropped = 0;

static void tun_free(l2s_polled_t *p) {
  tun_t *t = (tun_t *)p;
  free(t->scratch);
  free(t);
}

static void on_poll(uv_poll_t *h, int status, int events) {
  tun_t *t = (tun_t *)h->data;
  if (t->p.closed) return;
  napi_env env = t->p.env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;

  int err = 0;
  if (status < 0) {
    err = -status;
  } else {
    /* Read the whole batch into the slab, then copy it into ONE Buffer and
     * pass the packet lengths: the JS side cuts it into views, so a batch
     * costs one allocation, not one per packet. */
    uint32_t lens[BATCH_MAX];
    uint32_t n = 0;
    size_t used = 0;
    while (n < BATCH_MAX && SLAB_SIZE - used >= MAX_PACKET) {
      ssize_t r;
      l2s_vnet_hdr_t vh;
      if (t->vnet) {
        struct iovec iov[2] = {{&vh, sizeof vh}, {t->scratch + used, MAX_PACKET}};
        r = readv(t->p.fd, iov, 2);
      } else {
        r = read(t->p.fd, t->scratch + used, MAX_PACKET);
      }
      if (r < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) err = errno;
        break;
      }
      if (r == 0) break;
      if (t->vnet) {
        /* No offloads are enabled (TUNSETOFFLOAD 0), so the kernel sends
         * whole, checksummed packets; be strict anyway. */
        if ((size_t)r <= sizeof vh) continue;
        r -= (ssize_t)sizeof vh;
        if (vh.gso_type != L2S_VNET_GSO_NONE ||
            ((vh.flags & L2S_VNET_F_NEEDS_CSUM) &&
             !l2s_complete_checksum(t->scratch + used, (size_t)r, vh.csum_start, vh.csum_offset))) {
          stat_read_dropped++;
          continue;
        }
      }
      lens[n++] = (uint32_t)r;
      used += (size_t)r;
    }
    if (n > 0) {
      napi_value buf, arr, v;
      void *data;
      if (napi_create_buffer_copy(env, used, t->scratch, &data, &buf) == napi_ok) {
        napi_create_array_with_length(env, n, &arr);
        for (uint32_t i = 0; i < n; i++) {
          napi_create_uint32(env, lens[i], &v);
          napi_set_element(env, arr, i, v);
        }
        napi_value argv[2] = {buf, arr};
        l2s_polled_call(&t->p, 2, argv);
      }
    }
  }
  if (err && !t->p.closed) {
    char msg[256];
    snprintf(msg, sizeof msg, "reading TUN device %s failed (%s): the interface was deleted or is unusable; reading stopped",
             t->name, strerror(err));
    napi_value argv[2];
    napi_get_null(env, &argv[0]);
    argv[1] = l2s_make_error(env, err, msg);
    uv_poll_stop(&t->p.poll);
    l2s_polled_call(&t->p, 2, argv);
  }
  napi_close_handle_scope(env, scope);
}

static napi_value js_open(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  size_t argc = l2s_args(env, info, argv, 3);
  bool want_vnet = false;
  if (argc >= 3) napi_get_value_bool(env, argv[2], &want_vnet);
  char name[IFNAMSIZ + 1];
  size_t len = 0;
  napi_valuetype vt;
  if (argc < 2 || napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "open(name, callback): name must be a string");
    return NULL;
  }
  if (len == 0 || len >= IFNAMSIZ) {
    napi_throw_range_error(env, NULL, "TUN device name must be 1 to 15 bytes");
    return NULL;
  }
  napi_typeof(env, argv[1], &vt);
  if (vt != napi_function) {
    napi_throw_type_error(env, NULL, "open(name, callback): callback must be a function");
    return NULL;
  }

  char msg[256];
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    if (e == ENOENT || e == ENODEV || e == ENXIO)
      snprintf(msg, sizeof msg,
               "/dev/net/tun is missing (%s): load the tun kernel module (modprobe tun), "
               "or in a container pass the device (--device /dev/net/tun)", strerror(e));
    else if (e == EPERM || e == EACCES)
      snprintf(msg, sizeof msg, "opening /dev/net/tun needs root or CAP_NET_ADMIN (%s)", strerror(e));
    else
      snprintf(msg, sizeof msg, "cannot open /dev/net/tun: %s", strerror(e));
    return l2s_throw_errno(env, e, msg);
  }

  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (want_vnet ? IFF_VNET_HDR : 0);
  memcpy(ifr.ifr_name, name, len);
  int rc = ioctl(fd, TUNSETIFF, &ifr);
  int vnet = want_vnet && rc == 0;
  if (rc < 0 && want_vnet && errno == EINVAL) {
    /* A kernel without IFF_VNET_HDR: a plain device, one write per packet. */
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    rc = ioctl(fd, TUNSETIFF, &ifr);
  }
  /* No receive offloads: the kernel keeps segmenting and checksumming what it
   * sends us (ESP carries whole packets); writes may still ask for them. */
  if (rc == 0 && vnet) (void)ioctl(fd, TUNSETOFFLOAD, 0); /* a new device has none: this only makes sure */
  if (rc < 0) {
    int e = errno;
    close(fd);
    if (e == EPERM || e == EACCES)
      snprintf(msg, sizeof msg, "creating TUN device %s needs root or CAP_NET_ADMIN (%s)", name, strerror(e));
    else if (e == EBUSY)
      snprintf(msg, sizeof msg, "TUN device %s is already in use by another process (%s)", name, strerror(e));
    else if (e == EINVAL)
      snprintf(msg, sizeof msg,
               "cannot create TUN device %s: invalid name, or an interface of another kind has that name (%s)",
               name, strerror(e));
    else
      snprintf(msg, sizeof msg, "TUNSETIFF %s failed: %s", name, strerror(e));
    return l2s_throw_errno(env, e, msg);
  }

  tun_t *t = calloc(1, sizeof *t);
  unsigned char *scratch = malloc(SLAB_SIZE);
  uv_loop_t *loop = NULL;
  if (!t || !scratch || napi_get_uv_event_loop(env, &loop) != napi_ok || !loop) {
    free(t);
    free(scratch);
    close(fd);
    return l2s_throw_errno(env, ENOMEM, "cannot set up TUN device state");
  }
  t->p.fd = fd;
  t->p.free_state = tun_free;
  t->scratch = scratch;
  t->vnet = vnet;
  memcpy(t->name, ifr.ifr_name, IFNAMSIZ);
  t->name[IFNAMSIZ - 1] = 0;
  napi_value ext, obj, v;
  if (!l2s_polled_start(env, &t->p, loop, argv[1], "l2tpsec.tun", on_poll, &ext)) return NULL;

  napi_create_object(env, &obj);
  napi_create_int32(env, fd, &v);
  napi_set_named_property(env, obj, "fd", v);
  napi_create_string_utf8(env, ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ), &v);
  napi_set_named_property(env, obj, "name", v);
  napi_get_boolean(env, vnet != 0, &v);
  napi_set_named_property(env, obj, "vnetHdr", v);
  napi_set_named_property(env, obj, "handle", ext);
  return obj;
}

/* The packets of a write call: 1 with pk[0..n) filled, or 0 with a TypeError thrown. */
static int get_packets(napi_env env, napi_value arr, l2s_pkt_t **out, uint32_t *count, l2s_pkt_t *stack, uint32_t stack_n) {
  uint32_t n = 0;
  napi_get_array_length(env, arr, &n);
  l2s_pkt_t *pk = n <= stack_n ? stack : malloc(sizeof *pk * n);
  if (!pk) {
    napi_throw_error(env, NULL, "out of memory");
    return 0;
  }
  for (uint32_t i = 0; i < n; i++) {
    napi_value el;
    unsigned char *data;
    size_t len;
    napi_get_element(env, arr, i, &el);
    if (!l2s_u8(env, el, &data, &len)) {
      if (pk != stack) free(pk);
      napi_throw_type_error(env, NULL, "write(fd, packets): every packet must be a Buffer or Uint8Array");
      return 0;
    }
    pk[i].data = data;
    pk[i].len = len;
  }
  *out = pk;
  *count = n;
  return 1;
}

/* The iovecs of run (count packets from pk[i]) behind a virtio_net_hdr; returns how many. */
static int run_iov(const l2s_pkt_t *pk, size_t i, l2s_run_t *run, struct iovec *iov) {
  iov[0].iov_base = &run->vnet;
  iov[0].iov_len = sizeof run->vnet;
  if (run->count == 1) {
    iov[1].iov_base = (void *)pk[i].data;
    iov[1].iov_len = pk[i].len;
    return 2;
  }
  iov[1].iov_base = run->hdr;
  iov[1].iov_len = run->hdr_len;
  for (size_t j = 0; j < run->count; j++) {
    iov[2 + j].iov_base = (void *)(pk[i + j].data + run->hdr_len);
    iov[2 + j].iov_len = pk[i + j].len - run->hdr_len;
  }
  return (int)(2 + run->count);
}

static napi_value js_write(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  size_t argc = l2s_args(env, info, argv, 3);
  int32_t fd = -1;
  bool is_array = false, vnet = false;
  if (argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_is_array(env, argv[1], &is_array) != napi_ok || !is_array) {
    napi_throw_type_error(env, NULL, "write(fd, packets[, vnetHdr]): fd must be a number and packets an array");
    return NULL;
  }
  if (argc >= 3) napi_get_value_bool(env, argv[2], &vnet);
  l2s_pkt_t stack[256], *pk;
  uint32_t n;
  if (!get_packets(env, argv[1], &pk, &n, stack, 256)) return NULL;
  uint32_t written = 0;
  int fail = 0;
  l2s_run_t run;
  struct iovec iov[2 + L2S_COALESCE_MAX];
  while (written < n) {
    ssize_t r;
    if (vnet) {
      if (!gso_refused) {
        l2s_coalesce_run(pk, n, written, &run);
      } else {
        memset(&run, 0, sizeof run);
        run.count = 1;
      }
      int iovcnt = run_iov(pk, written, &run, iov);
      do r = writev(fd, iov, iovcnt);
      while (r < 0 && errno == EINTR);
      if (r < 0 && errno == EINVAL && run.count > 1) {
        gso_refused = 1; /* an older kernel (UDP_L4 needs 6.2): write them one by one */
        continue;
      }
      if (r >= 0 && run.count > 1) {
        stat_super++;
        stat_coalesced += (double)run.count;
      }
    } else {
      run.count = 1;
      do r = write(fd, pk[written].data, pk[written].len);
      while (r < 0 && errno == EINTR);
    }
    if (r < 0) {
      fail = errno;
      break;
    }
    written += (uint32_t)run.count;
  }
  if (pk != stack) free(pk);
  if (fail && fail != EAGAIN && fail != EWOULDBLOCK && written == 0) {
    char msg[256];
    snprintf(msg, sizeof msg, "write to TUN device failed: %s%s", strerror(fail),
             fail == EIO ? " (is the interface up?)" : "");
    return l2s_throw_errno(env, fail, msg);
  }
  napi_value out;
  napi_create_uint32(env, written, &out);
  return out;
}

/* coalesce(packets) -> Buffer[]: what a vnet write of the batch hands the kernel (virtio_net_hdr + packet), for tests. */
static napi_value js_coalesce(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  bool is_array = false;
  if (l2s_args(env, info, argv, 1) < 1 || napi_is_array(env, argv[0], &is_array) != napi_ok || !is_array) {
    napi_throw_type_error(env, NULL, "coalesce(packets): packets must be an array");
    return NULL;
  }
  l2s_pkt_t stack[256], *pk;
  uint32_t n;
  if (!get_packets(env, argv[0], &pk, &n, stack, 256)) return NULL;
  napi_value out;
  napi_create_array(env, &out);
  l2s_run_t run;
  struct iovec iov[2 + L2S_COALESCE_MAX];
  uint32_t k = 0;
  for (size_t i = 0; i < n; i += run.count) {
    l2s_coalesce_run(pk, n, i, &run);
    int iovcnt = run_iov(pk, i, &run, iov);
    size_t total = 0;
    for (int j = 0; j < iovcnt; j++) total += iov[j].iov_len;
    napi_value buf;
    unsigned char *data;
    if (napi_create_buffer(env, total, (void **)&data, &buf) != napi_ok) break;
    for (int j = 0; j < iovcnt; j++) {
      memcpy(data, iov[j].iov_base, iov[j].iov_len);
      data += iov[j].iov_len;
    }
    napi_set_element(env, out, k++, buf);
  }
  if (pk != stack) free(pk);
  return out;
}

/* tunStats() -> { superPackets, coalesced, readDropped, gsoRefused } for this process. */
static napi_value js_stats(napi_env env, napi_callback_info info) {
  napi_value o, v;
  napi_create_object(env, &o);
  napi_create_double(env, stat_super, &v);
  napi_set_named_property(env, o, "superPackets", v);
  napi_create_double(env, stat_coalesced, &v);
  napi_set_named_property(env, o, "coalesced", v);
  napi_create_double(env, stat_read_dropped, &v);
  napi_set_named_property(env, o, "readDropped", v);
  napi_get_boolean(env, gso_refused != 0, &v);
  napi_set_named_property(env, o, "gsoRefused", v);
  return o;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  void *data = NULL;
  if (l2s_args(env, info, argv, 1) < 1 || !l2s_external(env, argv[0], &data)) {
    napi_throw_type_error(env, NULL, "close(handle): not a TUN handle");
    return NULL;
  }
  l2s_polled_close((l2s_polled_t *)data);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_default, NULL},
      {"write", NULL, js_write, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
      {"coalesce", NULL, js_coalesce, NULL, NULL, NULL, napi_default, NULL},
      {"tunStats", NULL, js_stats, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  napi_value v;
  napi_create_uint32(env, BATCH_MAX, &v);
  napi_set_named_property(env, exports, "BATCH_MAX", v);
  l2s_udp_init(env, exports);
  l2s_hmac_init(env, exports);
  l2s_gcm_init(env, exports);
  l2s_cbc_init(env, exports);
  l2s_once_init(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
