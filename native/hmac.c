/*
 * HMAC (RFC 2104) over a batch of spans of one buffer in ONE native call,
 * with OpenSSL's SHA-1/SHA-2 (the copy inside node: the functions are looked
 * up in the process with dlsym, so a node without them only lacks these two
 * exports and JavaScript falls back to node:crypto).
 *
 *   hmacKey(hash: 'sha1'|'sha256'|'sha384'|'sha512', key: Uint8Array) -> External
 *       the keyed inner and outer hash states (K^ipad and K^opad absorbed once)
 *   hmacBatch(key: External, buf: Uint8Array, spans: Uint32Array, n: number,
 *             icvLen: number, verify: boolean, ok: Uint8Array) -> number
 *       for k < n, the message is buf[spans[2k], spans[2k+1]) and its ICV
 *       slot is the icvLen bytes right after it.
 *       verify: ok[k] = 1 when the HMAC truncated to icvLen equals the ICV
 *       slot (constant-time compare), else 0; returns how many matched.
 *       sign:   writes the truncated HMAC into the ICV slot; returns n.
 *
 * Per message this costs two copies of a small hash state and the hashing:
 * no allocation, no call back into JavaScript.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* Only the state types from OpenSSL's header (node ships it); the functions come from dlsym. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
typedef SHA_CTX sha1_ctx;
typedef SHA256_CTX sha256_ctx;
typedef SHA512_CTX sha512_ctx;

typedef int (*init_fn)(void *);
typedef int (*update_fn)(void *, const void *, size_t);
typedef int (*final_fn)(unsigned char *, void *);
typedef int (*memcmp_fn)(const void *, const void *, size_t);

typedef struct {
  init_fn init;
  update_fn update;
  final_fn final;
  size_t ctx_size, block, out;
} algo_t;

static algo_t algos[4];
static const char *algo_names[4] = {"sha1", "sha256", "sha384", "sha512"};
static memcmp_fn ct_memcmp;

/* Room for any of the hash states. */
typedef union {
  sha1_ctx s1;
  sha256_ctx s256;
  sha512_ctx s512;
} hash_ctx_t;

/* The hash named by v ('sha1' ... 'sha512') when OpenSSL has it, else NULL. */
static const algo_t *algo_of(napi_env env, napi_value v) {
  char name[16];
  size_t nlen = 0;
  if (napi_get_value_string_utf8(env, v, name, sizeof name, &nlen) != napi_ok) return NULL;
  for (int i = 0; i < 4; i++)
    if (strcmp(name, algo_names[i]) == 0 && algos[i].init) return &algos[i];
  return NULL;
}

/* HMAC's inner and outer hash states after the padded key block (RFC 2104 §2: a key longer
 * than the block is hashed first); the key's copies on the stack are wiped. */
static void key_states(const algo_t *a, const unsigned char *key, size_t klen, void *inner, void *outer) {
  unsigned char kb[128], pad[128];
  memset(kb, 0, sizeof kb);
  if (klen > a->block) {
    a->init(inner);
    a->update(inner, key, klen);
    a->final(kb, inner);
  } else {
    memcpy(kb, key, klen);
  }
  for (size_t i = 0; i < a->block; i++) pad[i] = kb[i] ^ 0x36;
  a->init(inner);
  a->update(inner, pad, a->block);
  for (size_t i = 0; i < a->block; i++) pad[i] = kb[i] ^ 0x5c;
  a->init(outer);
  a->update(outer, pad, a->block);
  memset(kb, 0, sizeof kb);
  memset(pad, 0, sizeof pad);
}

/* A key: the hash's inner and outer states after the padded key block, each a->ctx_size
 * bytes (SHA-1's 96, not the 216 of the largest: there is one key per direction of
 * every SA). Every ctx_size is a multiple of 8, so both states stay 8-aligned. */
typedef struct {
  const algo_t *a;
  unsigned char st[];
} hkey_t;
_Static_assert(sizeof(sha1_ctx) % 8 == 0 && sizeof(sha256_ctx) % 8 == 0 && sizeof(sha512_ctx) % 8 == 0, "hash states keep 8-byte alignment");
#define HK_INNER(k) ((void *)(k)->st)
#define HK_OUTER(k) ((void *)((k)->st + (k)->a->ctx_size))

static void hkey_finalize(napi_env env, void *data, void *hint) {
  hkey_t *k = (hkey_t *)data;
  memset(k->st, 0, 2 * k->a->ctx_size);
  free(k);
}

static napi_value js_hmac_key(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  size_t argc = l2s_args(env, info, argv, 2);
  napi_valuetype vt = napi_undefined;
  napi_typedarray_type type;
  size_t klen;
  void *kdata;
  if (argc < 2 || napi_typeof(env, argv[0], &vt) != napi_ok || vt != napi_string || !l2s_typed(env, argv[1], &type, &kdata, &klen)) {
    napi_throw_type_error(env, NULL, "hmacKey(hash, key)");
    return NULL;
  }
  const algo_t *a = algo_of(env, argv[0]);
  if (!a) {
    napi_throw_type_error(env, NULL, "hmacKey: unknown hash");
    return NULL;
  }
  if (type != napi_uint8_array) {
    napi_throw_type_error(env, NULL, "hmacKey: key must be a Uint8Array");
    return NULL;
  }
  hkey_t *k = calloc(1, sizeof *k + 2 * a->ctx_size);
  if (!k) return l2s_throw_errno(env, 12, "out of memory");
  k->a = a;
  key_states(a, kdata, klen, HK_INNER(k), HK_OUTER(k));
  napi_value ext;
  napi_create_external(env, k, hkey_finalize, NULL, &ext);
  return ext;
}

static napi_value js_hmac_batch(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  size_t argc = l2s_args(env, info, argv, 7);
  void *kp = NULL;
  unsigned char *buf, *ok;
  size_t blen, oklen, slen;
  uint32_t *spans;
  uint32_t n = 0, icv = 0;
  bool verify = false;
  napi_typedarray_type type;
  if (argc < 7 || !l2s_external(env, argv[0], &kp) || !l2s_u8(env, argv[1], &buf, &blen) ||
      !l2s_typed(env, argv[2], &type, (void **)&spans, &slen) ||
      napi_get_value_uint32(env, argv[3], &n) != napi_ok || napi_get_value_uint32(env, argv[4], &icv) != napi_ok ||
      napi_get_value_bool(env, argv[5], &verify) != napi_ok || !l2s_u8(env, argv[6], &ok, &oklen)) {
    napi_throw_type_error(env, NULL, "hmacBatch(key, buf, spans, n, icvLen, verify, ok)");
    return NULL;
  }
  hkey_t *k = (hkey_t *)kp;
  const algo_t *a = k->a;
  if (type != napi_uint32_array || slen < (size_t)n * 2 || (verify && oklen < n) || icv == 0 || icv > a->out) {
    napi_throw_range_error(env, NULL, "hmacBatch: spans, ok or icvLen out of range");
    return NULL;
  }
  for (uint32_t i = 0; i < n; i++) {
    uint32_t s = spans[2 * i], e = spans[2 * i + 1];
    if (s > e || (size_t)e > blen || (size_t)icv > blen - e) {
      napi_throw_range_error(env, NULL, "hmacBatch: span outside the buffer");
      return NULL;
    }
  }
  uint32_t matched = 0;
  unsigned char md[64];
  hash_ctx_t c;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t s = spans[2 * i], e = spans[2 * i + 1];
    memcpy(&c, HK_INNER(k), a->ctx_size);
    a->update(&c, buf + s, e - s);
    a->final(md, &c);
    memcpy(&c, HK_OUTER(k), a->ctx_size);
    a->update(&c, md, a->out);
    a->final(md, &c);
    if (verify) {
      int same = ct_memcmp(md, buf + e, icv) == 0;
      ok[i] = (unsigned char)same;
      matched += (uint32_t)same;
    } else {
      memcpy(buf + e, md, icv);
      matched++;
    }
  }
  memset(md, 0, sizeof md);
  memset(&c, 0, sizeof c);
  napi_value out;
  napi_create_uint32(env, matched, &out);
  return out;
}

/*
 * One-shot digests for the control plane (IKE's PRF and hashes, MS-CHAPv2):
 *
 *   digestOnce(hash, out, p0[, p1 ... p7])        out = hash(p0 | p1 | ...)
 *   hmacOnce(hash, out, key, p0[, p1 ... p7])     out = HMAC(key, p0 | p1 | ...)
 *
 * out: a Uint8Array of at least the hash's length (its first bytes are
 * written); the parts are Uint8Arrays hashed in order, as if concatenated:
 * no copy, no hash object, no call back into JavaScript. Returns undefined.
 */
#define ONCE_PARTS 8

/* Absorbs argv[from..argc) (each a Uint8Array) into c; 0 if one is not. */
static int absorb(napi_env env, const algo_t *a, void *c, napi_value *argv, size_t from, size_t argc) {
  for (size_t i = from; i < argc; i++) {
    unsigned char *d;
    size_t len;
    if (!l2s_u8(env, argv[i], &d, &len)) return 0;
    if (len) a->update(c, d, len);
  }
  return 1;
}

static napi_value js_digest_once(napi_env env, napi_callback_info info) {
  napi_value argv[2 + ONCE_PARTS];
  size_t argc = l2s_args(env, info, argv, 2 + ONCE_PARTS);
  const algo_t *a = argc >= 3 ? algo_of(env, argv[0]) : NULL;
  unsigned char *out;
  size_t olen;
  hash_ctx_t c;
  unsigned char md[64];
  if (argc > 2 + ONCE_PARTS) { /* napi_get_cb_info counts every argument, argv holds the first ones */
    napi_throw_range_error(env, NULL, "digestOnce: at most 8 parts");
    return NULL;
  }
  if (!a || !l2s_u8(env, argv[1], &out, &olen) || olen < a->out) {
    napi_throw_type_error(env, NULL, "digestOnce(hash, out, ...parts)");
    return NULL;
  }
  a->init(&c);
  if (!absorb(env, a, &c, argv, 2, argc)) {
    napi_throw_type_error(env, NULL, "digestOnce: parts must be Uint8Arrays");
    return NULL;
  }
  a->final(md, &c);
  memcpy(out, md, a->out);
  return NULL;
}

static napi_value js_hmac_once(napi_env env, napi_callback_info info) {
  napi_value argv[3 + ONCE_PARTS];
  size_t argc = l2s_args(env, info, argv, 3 + ONCE_PARTS);
  const algo_t *a = argc >= 4 ? algo_of(env, argv[0]) : NULL;
  unsigned char *kdata, *out;
  size_t klen, olen;
  if (argc > 3 + ONCE_PARTS) { /* napi_get_cb_info counts every argument, argv holds the first ones */
    napi_throw_range_error(env, NULL, "hmacOnce: at most 8 parts");
    return NULL;
  }
  if (!a || !l2s_u8(env, argv[1], &out, &olen) || olen < a->out || !l2s_u8(env, argv[2], &kdata, &klen)) {
    napi_throw_type_error(env, NULL, "hmacOnce(hash, out, key, ...parts)");
    return NULL;
  }
  hash_ctx_t c, outer;
  unsigned char md[64];
  key_states(a, kdata, klen, &c, &outer);
  int ok = absorb(env, a, &c, argv, 3, argc);
  if (ok) {
    a->final(md, &c);
    a->update(&outer, md, a->out);
    a->final(md, &outer);
  }
  memset(&c, 0, sizeof c);
  memset(&outer, 0, sizeof outer);
  if (!ok) {
    napi_throw_type_error(env, NULL, "hmacOnce: parts must be Uint8Arrays");
    return NULL;
  }
  memcpy(out, md, a->out);
  memset(md, 0, sizeof md);
  return NULL;
}

static int lookup(algo_t *a, const char *i, const char *u, const char *f, size_t ctx, size_t block, size_t out) {
  a->init = (init_fn)dlsym(RTLD_DEFAULT, i);
  a->update = (update_fn)dlsym(RTLD_DEFAULT, u);
  a->final = (final_fn)dlsym(RTLD_DEFAULT, f);
  a->ctx_size = ctx;
  a->block = block;
  a->out = out;
  if (!a->init || !a->update || !a->final) {
    a->init = NULL;
    return 0;
  }
  return 1;
}

void l2s_hmac_init(napi_env env, napi_value exports) {
  ct_memcmp = (memcmp_fn)dlsym(RTLD_DEFAULT, "CRYPTO_memcmp");
  int ok = ct_memcmp != NULL;
  ok &= lookup(&algos[0], "SHA1_Init", "SHA1_Update", "SHA1_Final", sizeof(sha1_ctx), 64, 20);
  ok &= lookup(&algos[1], "SHA256_Init", "SHA256_Update", "SHA256_Final", sizeof(sha256_ctx), 64, 32);
  ok &= lookup(&algos[2], "SHA384_Init", "SHA384_Update", "SHA384_Final", sizeof(sha512_ctx), 128, 48);
  ok &= lookup(&algos[3], "SHA512_Init", "SHA512_Update", "SHA512_Final", sizeof(sha512_ctx), 128, 64);
  if (!ok) return; /* no OpenSSL in reach: JavaScript uses node:crypto */
  napi_property_descriptor props[] = {
      {"hmacKey", NULL, js_hmac_key, NULL, NULL, NULL, napi_default, NULL},
      {"hmacBatch", NULL, js_hmac_batch, NULL, NULL, NULL, napi_default, NULL},
      {"digestOnce", NULL, js_digest_once, NULL, NULL, NULL, napi_default, NULL},
      {"hmacOnce", NULL, js_hmac_once, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
