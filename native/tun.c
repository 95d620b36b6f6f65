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
 * keeps the External alive, like a socket; close() drops it.
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
  uv_poll_t poll;
  napi_env env;
  int fd;
  int closed;
  int owners;
  napi_ref cb;
  napi_ref self;
  napi_async_context ctx;
  unsigned char *scratch;
  char name[IFNAMSIZ];
  /* Closes us if the environment (a Worker, or the main thread at exit) is
   * torn down while we are open; completed in on_uv_closed. */
  napi_async_cleanup_hook_handle hook;
  int in_cleanup;
} tun_t;

static const char *errno_code(int e) {
  switch (e) {
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case ENOENT: return "ENOENT";
    case ENODEV: return "ENODEV";
    case ENXIO: return "ENXIO";
    case EBUSY: return "EBUSY";
    case EINVAL: return "EINVAL";
    case EIO: return "EIO";
    case EBADF: return "EBADF";
    case EBADFD: return "EBADFD";
    case EFAULT: return "EFAULT";
    case ENOMEM: return "ENOMEM";
    case ENOBUFS: return "ENOBUFS";
    case EMSGSIZE: return "EMSGSIZE";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case EAGAIN: return "EAGAIN";
    case EADDRINUSE: return "EADDRINUSE";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    default: return "EUNKNOWN";
  }
}

static napi_value make_error(napi_env env, int e, const char *msg) {
  napi_value code, text, err, num;
  napi_create_string_utf8(env, errno_code(e), NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text);
  napi_create_error(env, code, text, &err);
  napi_create_int32(env, e, &num);
  napi_set_named_property(env, err, "errno", num);
  return err;
}

static napi_value throw_errno(napi_env env, int e, const char *msg) {
  napi_throw(env, make_error(env, e, msg));
  return NULL;
}

napi_value l2s_throw_errno(napi_env env, int e, const char *msg) { return throw_errno(env, e, msg); }

static void release(tun_t *t) {
  if (--t->owners == 0) {
    free(t->scratch);
    free(t);
  }
}

static void on_uv_closed(uv_handle_t *h) {
  tun_t *t = (tun_t *)h->data;
  napi_async_cleanup_hook_handle hook = t->in_cleanup ? t->hook : NULL;
  t->hook = NULL;
  release(t);
  /* Tell Node the asynchronous cleanup is finished (the loop may now close). */
  if (hook) napi_remove_async_cleanup_hook(hook);
}

static void on_external_finalize(napi_env env, void *data, void *hint) {
  tun_t *t = (tun_t *)data;
  if (!t->closed) {
    /* Only at environment teardown (the strong self reference otherwise keeps
     * us alive while open): the loop may be gone, so just close the fd and
     * leave the poll handle's share alone. */
    t->closed = 1;
    if (t->fd >= 0) close(t->fd);
    t->fd = -1;
    return;
  }
  release(t);
}

/* Stop polling, close the fd, drop JS references; memory goes in on_uv_closed. */
static void do_close(tun_t *t) {
  if (t->closed) return;
  t->closed = 1;
  napi_env env = t->env;
  if (!t->in_cleanup && t->hook) {
    napi_remove_async_cleanup_hook(t->hook);
    t->hook = NULL;
  }
  uv_poll_stop(&t->poll);
  if (t->fd >= 0) close(t->fd);
  t->fd = -1;
  if (t->cb) napi_delete_reference(env, t->cb);
  t->cb = NULL;
  if (t->ctx) napi_async_destroy(env, t->ctx);
  t->ctx = NULL;
  if (t->self) napi_delete_reference(env, t->self);
  t->self = NULL;
  uv_close((uv_handle_t *)&t->poll, on_uv_closed);
}

static void on_env_cleanup(napi_async_cleanup_hook_handle handle, void *arg) {
  tun_t *t = (tun_t *)arg;
  t->in_cleanup = 1;
  t->hook = handle;
  do_close(t);
}

/* Calls the JS callback; an exception it throws becomes an uncaught exception. */
static void invoke(tun_t *t, size_t argc, napi_value *argv) {
  napi_env env = t->env;
  napi_value fn, recv, result;
  if (!t->cb || napi_get_reference_value(env, t->cb, &fn) != napi_ok || fn == NULL) return;
  napi_get_global(env, &recv); /* napi_make_callback needs an object receiver */
  napi_status s = napi_make_callback(env, t->ctx, recv, fn, argc, argv, &result);
  if (s == napi_pending_exception) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    napi_fatal_exception(env, exc);
  }
}

static void on_poll(uv_poll_t *h, int status, int events) {
  tun_t *t = (tun_t *)h->data;
  if (t->closed) return;
  napi_env env = t->env;
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
      ssize_t r = read(t->fd, t->scratch + used, MAX_PACKET);
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
        invoke(t, 2, argv);
      }
    }
  }
  if (err && !t->closed) {
    char msg[256];
    snprintf(msg, sizeof msg, "reading TUN device %s failed (%s): the interface was deleted or is unusable; reading stopped",
             t->name, strerror(err));
    napi_value argv[2];
    napi_get_null(env, &argv[0]);
    argv[1] = make_error(env, err, msg);
    uv_poll_stop(&t->poll);
    invoke(t, 2, argv);
  }
  napi_close_handle_scope(env, scope);
}

static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
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
    return throw_errno(env, e, msg);
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
    return throw_errno(env, e, msg);
  }

  tun_t *t = calloc(1, sizeof *t);
  unsigned char *scratch = malloc(SLAB_SIZE);
  uv_loop_t *loop = NULL;
  if (!t || !scratch || napi_get_uv_event_loop(env, &loop) != napi_ok || !loop) {
    free(t);
    free(scratch);
    close(fd);
    return throw_errno(env, ENOMEM, "cannot set up TUN device state");
  }
  t->env = env;
  t->fd = fd;
  t->scratch = scratch;
  memcpy(t->name, ifr.ifr_name, IFNAMSIZ);
  t->name[IFNAMSIZ - 1] = 0;
  int r = uv_poll_init(loop, &t->poll, fd);
  if (r != 0) {
    free(t->scratch);
    free(t);
    close(fd);
    snprintf(msg, sizeof msg, "uv_poll_init failed: %s", uv_strerror(r));
    return throw_errno(env, -r, msg);
  }
  t->poll.data = t;
  t->owners = 2;

  napi_value ext, resource_name, obj, v;
  napi_create_external(env, t, on_external_finalize, NULL, &ext);
  napi_create_reference(env, ext, 1, &t->self);
  napi_create_reference(env, argv[1], 1, &t->cb);
  napi_create_string_utf8(env, "l2tpsec.tun", NAPI_AUTO_LENGTH, &resource_name);
  napi_async_init(env, NULL, resource_name, &t->ctx);

  napi_add_async_cleanup_hook(env, on_env_cleanup, t, &t->hook);

  r = uv_poll_start(&t->poll, UV_READABLE, on_poll);
  if (r != 0) {
    do_close(t);
    snprintf(msg, sizeof msg, "uv_poll_start failed: %s", uv_strerror(r));
    return throw_errno(env, -r, msg);
  }

  napi_create_object(env, &obj);
  napi_create_int32(env, fd, &v);
  napi_set_named_property(env, obj, "fd", v);
  napi_create_string_utf8(env, ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ), &v);
  napi_set_named_property(env, obj, "name", v);
  napi_set_named_property(env, obj, "handle", ext);
  return obj;
}

static napi_value js_write(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
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
      return throw_errno(env, e, msg);
    }
    written++;
  }
  napi_value out;
  napi_create_uint32(env, written, &out);
  return out;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *data = NULL;
  napi_valuetype vt = napi_undefined;
  if (argc >= 1) napi_typeof(env, argv[0], &vt);
  if (vt != napi_external || napi_get_value_external(env, argv[0], &data) != napi_ok || !data) {
    napi_throw_type_error(env, NULL, "close(handle): not a TUN handle");
    return NULL;
  }
  do_close((tun_t *)data);
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
