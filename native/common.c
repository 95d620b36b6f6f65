/* What the addon's parts share: errors, argument fetching, and the polled fd's lifecycle (see common.h). */
#define _GNU_SOURCE
#include "common.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

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

napi_value l2s_make_error(napi_env env, int e, const char *msg) {
  napi_value code, text, err, num;
  napi_create_string_utf8(env, errno_code(e), NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text);
  napi_create_error(env, code, text, &err);
  napi_create_int32(env, e, &num);
  napi_set_named_property(env, err, "errno", num);
  return err;
}

napi_value l2s_throw_errno(napi_env env, int e, const char *msg) {
  napi_throw(env, l2s_make_error(env, e, msg));
  return NULL;
}

size_t l2s_args(napi_env env, napi_callback_info info, napi_value *argv, size_t max) {
  size_t argc = max;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  return argc;
}

int l2s_external(napi_env env, napi_value v, void **data) {
  napi_valuetype vt = napi_undefined;
  *data = NULL;
  return napi_typeof(env, v, &vt) == napi_ok && vt == napi_external && napi_get_value_external(env, v, data) == napi_ok &&
         *data != NULL;
}

int l2s_typed(napi_env env, napi_value v, napi_typedarray_type *type, void **data, size_t *len) {
  bool is_ta = false;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) return 0;
  napi_get_typedarray_info(env, v, type, len, data, NULL, NULL);
  return 1;
}

int l2s_u8(napi_env env, napi_value v, unsigned char **data, size_t *len) {
  napi_typedarray_type type;
  return l2s_typed(env, v, &type, (void **)data, len) && type == napi_uint8_array;
}

int l2s_arraybuffer(napi_env env, napi_value v, void **data, size_t *len) {
  bool is_ab = false;
  if (napi_is_arraybuffer(env, v, &is_ab) != napi_ok || !is_ab) return 0;
  return napi_get_arraybuffer_info(env, v, data, len) == napi_ok;
}

void l2s_polled_release(l2s_polled_t *p) {
  if (--p->owners == 0) p->free_state(p);
}

static void on_uv_closed(uv_handle_t *h) {
  l2s_polled_t *p = (l2s_polled_t *)h->data;
  napi_async_cleanup_hook_handle hook = p->in_cleanup ? p->hook : NULL;
  p->hook = NULL;
  l2s_polled_release(p);
  /* Tell Node the asynchronous cleanup is finished (the loop may now close). */
  if (hook) napi_remove_async_cleanup_hook(hook);
}

static void on_external_finalize(napi_env env, void *data, void *hint) {
  l2s_polled_t *p = (l2s_polled_t *)data;
  if (!p->closed) {
    /* Only at environment teardown (the strong self reference otherwise keeps
     * us alive while open): the loop may be gone, so just close the fd and
     * leave the poll handle's share alone. */
    p->closed = 1;
    if (p->fd >= 0) close(p->fd);
    p->fd = -1;
    return;
  }
  l2s_polled_release(p);
}

void l2s_polled_close(l2s_polled_t *p) {
  if (p->closed) return;
  p->closed = 1;
  napi_env env = p->env;
  if (!p->in_cleanup && p->hook) {
    napi_remove_async_cleanup_hook(p->hook);
    p->hook = NULL;
  }
  uv_poll_stop(&p->poll);
  if (p->fd >= 0) close(p->fd);
  p->fd = -1;
  if (p->cb) napi_delete_reference(env, p->cb);
  p->cb = NULL;
  if (p->drop_refs) p->drop_refs(p);
  if (p->ctx) napi_async_destroy(env, p->ctx);
  p->ctx = NULL;
  if (p->self) napi_delete_reference(env, p->self);
  p->self = NULL;
  uv_close((uv_handle_t *)&p->poll, on_uv_closed);
}

static void on_env_cleanup(napi_async_cleanup_hook_handle handle, void *arg) {
  l2s_polled_t *p = (l2s_polled_t *)arg;
  p->in_cleanup = 1;
  p->hook = handle;
  l2s_polled_close(p);
}

int l2s_polled_start(napi_env env, l2s_polled_t *p, uv_loop_t *loop, napi_value cb, const char *resource, uv_poll_cb on_poll,
                     napi_value *ext) {
  char msg[256];
  int fd = p->fd;
  p->env = env;
  int r = uv_poll_init(loop, &p->poll, fd);
  if (r != 0) {
    p->owners = 1;
    l2s_polled_release(p);
    close(fd);
    snprintf(msg, sizeof msg, "uv_poll_init failed: %s", uv_strerror(r));
    l2s_throw_errno(env, -r, msg);
    return 0;
  }
  p->poll.data = p;
  p->owners = 2;

  napi_value resource_name;
  napi_create_external(env, p, on_external_finalize, NULL, ext);
  napi_create_reference(env, *ext, 1, &p->self);
  napi_create_reference(env, cb, 1, &p->cb);
  napi_create_string_utf8(env, resource, NAPI_AUTO_LENGTH, &resource_name);
  napi_async_init(env, NULL, resource_name, &p->ctx);
  napi_add_async_cleanup_hook(env, on_env_cleanup, p, &p->hook);

  r = uv_poll_start(&p->poll, UV_READABLE, on_poll);
  if (r != 0) {
    l2s_polled_close(p);
    snprintf(msg, sizeof msg, "uv_poll_start failed: %s", uv_strerror(r));
    l2s_throw_errno(env, -r, msg);
    return 0;
  }
  return 1;
}

void l2s_polled_call(l2s_polled_t *p, size_t argc, napi_value *argv) {
  napi_env env = p->env;
  napi_value fn, recv, result;
  if (!p->cb || napi_get_reference_value(env, p->cb, &fn) != napi_ok || fn == NULL) return;
  napi_get_global(env, &recv); /* napi_make_callback needs an object receiver */
  napi_status s = napi_make_callback(env, p->ctx, recv, fn, argc, argv, &result);
  if (s == napi_pending_exception) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    napi_fatal_exception(env, exc);
  }
}
