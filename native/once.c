/*
 * One-shot CBC for the control plane (IKE message bodies, IKEv2's SK payload
 * with a CBC suite, MS-CHAPv2's DES), with node's own OpenSSL (the EVP calls of
 * evp.c; without them the export is missing and JavaScript keeps node:crypto,
 * a cipher object per call).
 *
 *   cbcOnce(cipher: 'aes-128-cbc'|'aes-192-cbc'|'aes-256-cbc'|'des-ede3-cbc',
 *           key: Uint8Array, iv: Uint8Array, buf: Uint8Array, encrypt: boolean) -> undefined
 *       buf (whole blocks) encrypted or decrypted in place, chained from iv;
 *       no padding. TypeError on a wrong key, IV or length; Error when
 *       OpenSSL refuses.
 *
 * The ciphers are fetched once (EVP_CIPHER_fetch, where OpenSSL 3 has it) so a
 * call does not look the algorithm up again.
 */
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "evp.h"

static const l2s_evp_t *ev;

typedef struct {
  const char *name;   /* node:crypto's name, what JavaScript passes */
  const char *legacy; /* the EVP_* getter */
  const char *fetch;  /* OpenSSL 3's name */
  size_t key, block;
  const EVP_CIPHER *c;
} once_cipher_t;

static once_cipher_t ciphers[] = {
    {"aes-128-cbc", "EVP_aes_128_cbc", "AES-128-CBC", 16, 16, NULL},
    {"aes-192-cbc", "EVP_aes_192_cbc", "AES-192-CBC", 24, 16, NULL},
    {"aes-256-cbc", "EVP_aes_256_cbc", "AES-256-CBC", 32, 16, NULL},
    {"des-ede3-cbc", "EVP_des_ede3_cbc", "DES-EDE3-CBC", 24, 8, NULL},
};
#define N_CIPHERS (sizeof ciphers / sizeof ciphers[0])

static napi_value js_cbc_once(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  size_t argc = l2s_args(env, info, argv, 5);
  char name[16];
  size_t nlen = 0;
  unsigned char *key, *iv, *buf;
  size_t klen, ivlen, blen;
  bool encrypt = false;
  if (argc < 5 || napi_get_value_string_utf8(env, argv[0], name, sizeof name, &nlen) != napi_ok || !l2s_u8(env, argv[1], &key, &klen) ||
      !l2s_u8(env, argv[2], &iv, &ivlen) || !l2s_u8(env, argv[3], &buf, &blen) || napi_get_value_bool(env, argv[4], &encrypt) != napi_ok) {
    napi_throw_type_error(env, NULL, "cbcOnce(cipher, key, iv, buf, encrypt)");
    return NULL;
  }
  const once_cipher_t *c = NULL;
  for (size_t i = 0; i < N_CIPHERS; i++)
    if (strcmp(name, ciphers[i].name) == 0 && ciphers[i].c) c = &ciphers[i];
  if (!c) {
    napi_throw_type_error(env, NULL, "cbcOnce: unknown cipher");
    return NULL;
  }
  if (klen != c->key || ivlen != c->block || blen % c->block != 0 || blen > INT32_MAX) {
    napi_throw_type_error(env, NULL, "cbcOnce: wrong key or IV length, or not whole blocks");
    return NULL;
  }
  if (blen == 0) return NULL;
  EVP_CIPHER_CTX *ctx = ev->ctx_new();
  int len = 0, ok = ctx != NULL;
  ok = ok && ev->init(ctx, c->c, NULL, key, iv, encrypt ? 1 : 0) == 1;
  ok = ok && ev->padding(ctx, 0) == 1;
  ok = ok && ev->update(ctx, buf, &len, buf, (int)blen) == 1 && (size_t)len == blen;
  ok = ok && ev->final(ctx, buf + len, &len) == 1;
  if (ctx) ev->ctx_free(ctx); /* frees the key schedule wiped */
  if (!ok) {
    napi_throw_error(env, NULL, "cbcOnce: OpenSSL refused");
    return NULL;
  }
  return NULL;
}

void l2s_once_init(napi_env env, napi_value exports) {
  ev = l2s_evp();
  if (!ev) return;
  int any = 0;
  for (size_t i = 0; i < N_CIPHERS; i++) {
    once_cipher_t *c = &ciphers[i];
    c->c = l2s_evp_cipher(c->fetch, c->legacy);
    any |= c->c != NULL;
  }
  if (!any) return;
  napi_property_descriptor props[] = {
      {"cbcOnce", NULL, js_cbc_once, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
