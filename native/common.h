/* Shared by the addon's parts (tun.c, udp.c, hmac.c, gcm.c, cbc.c, once.c; evp.h for the EVP calls); implemented in common.c. */
#ifndef L2S_COMMON_H
#define L2S_COMMON_H
#include <node_api.h>
#include <stddef.h>
#include <uv.h>

/* An Error with .code (the errno name) and .errno. */
napi_value l2s_make_error(napi_env env, int e, const char *msg);
/* The same, thrown; returns NULL. */
napi_value l2s_throw_errno(napi_env env, int e, const char *msg);

/* Up to max arguments into argv; returns how many the caller passed. */
size_t l2s_args(napi_env env, napi_callback_info info, napi_value *argv, size_t max);
/* 1 with *data set when v is an External with data, else 0. */
int l2s_external(napi_env env, napi_value v, void **data);
/* 1 with *type, *data and *len set when v is a typed array, else 0. */
int l2s_typed(napi_env env, napi_value v, napi_typedarray_type *type, void **data, size_t *len);
/* 1 with *data and *len set when v is a Uint8Array (or Buffer), else 0. */
int l2s_u8(napi_env env, napi_value v, unsigned char **data, size_t *len);
/* 1 with *data and *len set when v is an ArrayBuffer, else 0. */
int l2s_arraybuffer(napi_env env, napi_value v, void **data, size_t *len);

/*
 * A non-blocking fd watched by a libuv poll handle, with a JS callback (tun.c,
 * udp.c). Embedded as the FIRST member of the part's own state. The state is
 * owned by two parties, the uv poll handle (released in the uv_close callback)
 * and the JS External (released by its finalizer); free_state frees it when
 * both let go. While open, a strong reference keeps the External alive, like
 * a socket; l2s_polled_close drops it. An async cleanup hook closes it if the
 * environment (a Worker, or the main thread at exit) is torn down while open.
 */
typedef struct l2s_polled {
  uv_poll_t poll;
  napi_env env;
  int fd;
  int closed;
  int owners;
  napi_ref cb;
  napi_ref self;
  napi_async_context ctx;
  napi_async_cleanup_hook_handle hook;
  int in_cleanup;
  /* Frees the whole state. */
  void (*free_state)(struct l2s_polled *p);
  /* At close, after the callback reference is gone: drop the part's further JS references (may be NULL). */
  void (*drop_refs)(struct l2s_polled *p);
} l2s_polled_t;

/*
 * With p->fd, p->free_state (and p->drop_refs) set: start polling fd for
 * readability with on_poll (h->data is p), keep cb (a function) for
 * l2s_polled_call and make the External (*ext) that owns p with the poll
 * handle. On failure it throws and returns 0: a uv_poll_init failure frees
 * p and closes the fd, a later one closes p.
 */
int l2s_polled_start(napi_env env, l2s_polled_t *p, uv_loop_t *loop, napi_value cb, const char *resource, uv_poll_cb on_poll,
                     napi_value *ext);
/* Give up one owner's share; the last frees the state. */
void l2s_polled_release(l2s_polled_t *p);
/* Stop polling, close the fd, drop JS references; memory goes when the poll handle has closed. */
void l2s_polled_close(l2s_polled_t *p);
/* Calls the JS callback; an exception it throws becomes an uncaught exception. */
void l2s_polled_call(l2s_polled_t *p, size_t argc, napi_value *argv);

void l2s_udp_init(napi_env env, napi_value exports);
void l2s_hmac_init(napi_env env, napi_value exports);
void l2s_gcm_init(napi_env env, napi_value exports);
void l2s_cbc_init(napi_env env, napi_value exports);
void l2s_once_init(napi_env env, napi_value exports);
#endif
