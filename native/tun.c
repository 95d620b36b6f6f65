/*
 * l2tpsec TUN addon: open a Linux TUN device (IFF_TUN | IFF_NO_PI) and move
 * BATCHES of IPv4 packets between it and JavaScript without blocking the
 * event loop.
 *
 *   open(name: string, cb: (batch: Buffer | null, lengths: number[] | Error) => void)
 *       -> { fd: number, name: string, handle: External }
 *   write(fd: number, packets: Uint8Array[]) -> number   (packets accepted)
 *   close(handle: External) -> undefined
 *
 * Reading: the non-blocking fd is watched with a libuv poll handle; on
 * readability we read() until EAGAIN or BATCH_MAX packets and hand the whole
 * batch to cb in one call: cb(batch, lengths), the packets back to back in
 * one Buffer (one allocation per batch; the JS side cuts views). libuv polls level-triggered, so a batch cut at
 * BATCH_MAX is continued on the next loop turn. A read error (e.g. the
 * interface was deleted) stops polling and calls cb(null, err) once.
 *
 * Writing: one write(2) per packet (a TUN write is exactly one packet).
 * EAGAIN stops the batch and the count written so far is returned; EINTR is
 * retried; any other errno on the FIRST packet throws an Error with .code,
 * on a later packet it stops the batch (the caller sees count < length).
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
#include <unistd.h>
#include <uv.h>

#include "common.h"

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
  char name[IFNAMSIZ];
} tun_t;

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
      ssize_t r = read(t->p.fd, t->scratch + used, MAX_PACKET);
      if (r < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) err = errno;
        break;
      }
      if (r == 0) break;
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
  napi_value argv[2];
  size_t argc = l2s_args(env, info, argv, 2);
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
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  memcpy(ifr.ifr_name, name, len);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
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
  memcpy(t->name, ifr.ifr_name, IFNAMSIZ);
  t->name[IFNAMSIZ - 1] = 0;
  napi_value ext, obj, v;
  if (!l2s_polled_start(env, &t->p, loop, argv[1], "l2tpsec.tun", on_poll, &ext)) return NULL;

  napi_create_object(env, &obj);
  napi_create_int32(env, fd, &v);
  napi_set_named_property(env, obj, "fd", v);
  napi_create_string_utf8(env, ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ), &v);
  napi_set_named_property(env, obj, "name", v);
  napi_set_named_property(env, obj, "handle", ext);
  return obj;
}

static napi_value js_write(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  size_t argc = l2s_args(env, info, argv, 2);
  int32_t fd = -1;
  bool is_array = false;
  if (argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_is_array(env, argv[1], &is_array) != napi_ok || !is_array) {
    napi_throw_type_error(env, NULL, "write(fd, packets): fd must be a number and packets an array");
    return NULL;
  }
  uint32_t n = 0;
  napi_get_array_length(env, argv[1], &n);
  uint32_t written = 0;
  for (uint32_t i = 0; i < n; i++) {
    napi_value el;
    bool is_ta = false;
    napi_get_element(env, argv[1], i, &el);
    if (napi_is_typedarray(env, el, &is_ta) != napi_ok || !is_ta) {
      napi_throw_type_error(env, NULL, "write(fd, packets): every packet must be a Buffer or Uint8Array");
      return NULL;
    }
    napi_typedarray_type type;
    size_t len;
    void *data;
    napi_get_typedarray_info(env, el, &type, &len, &data, NULL, NULL);
    if (type != napi_uint8_array) {
      napi_throw_type_error(env, NULL, "write(fd, packets): every packet must be a Buffer or Uint8Array");
      return NULL;
    }
    ssize_t r;
    do r = write(fd, data, len);
    while (r < 0 && errno == EINTR);
    if (r < 0) {
      int e = errno;
      if (e == EAGAIN || e == EWOULDBLOCK || written > 0) break;
      char msg[256];
      snprintf(msg, sizeof msg, "write to TUN device failed: %s%s", strerror(e),
               e == EIO ? " (is the interface up?)" : "");
      return l2s_throw_errno(env, e, msg);
    }
    written++;
  }
  napi_value out;
  napi_create_uint32(env, written, &out);
  return out;
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
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  napi_value v;
  napi_create_uint32(env, BATCH_MAX, &v);
  napi_set_named_property(env, exports, "BATCH_MAX", v);
  l2s_udp_init(env, exports);
  l2s_hmac_init(env, exports);
  l2s_gcm_init(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
