/*
 * AES-GCM for ESP (RFC 4106) over a batch of packets in ONE native call, with
 * node's own OpenSSL (EVP, looked up with dlsym like hmac.c; without it these
 * exports are missing and JavaScript keeps node:crypto, one cipher object per
 * packet).
 *
 *   gcmKey(key: Uint8Array (16, 24 or 32 bytes), salt: Uint8Array (4), encrypt: boolean) -> External
 *       one keyed EVP context for one direction of one SA
 *   gcmBatch(key, src: Uint8Array, dst: Uint8Array, recs: Uint32Array, n: number, ok: Uint8Array) -> number
 *       record k = recs[6k .. 6k+5] = [aad, iv, in, len, out, tag] (offsets):
 *       AAD = src[aad, aad + 8) (SPI | seq), nonce = salt | src[iv, iv + 8),
 *       text src[in, in + len) -> dst[out, out + len) (in place when src and
 *       dst are one buffer and in == out), 16-byte tag at tag: in dst when
 *       encrypting (written), in src when decrypting (checked; ok[k] = 1 when
 *       authentic, else 0 and dst[out, out + len) zeroed). Returns the number
 *       of authentic (decrypt) or encrypted packets.
 */
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "evp.h"

static const l2s_evp_t *ev;
static const EVP_CIPHER *aes128, *aes192, *aes256;

typedef struct {
  EVP_CIPHER_CTX *ctx;
  unsigned char salt[4];
  int encrypt;
} gkey_t;

static void gkey_finalize(napi_env env, void *data, void *hint) {
  gkey_t *k = (gkey_t *)data;
  if (k->ctx) ev->ctx_free(k->ctx);
  free(k);
}

static napi_value js_gcm_key(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  size_t argc = l2s_args(env, info, argv, 3);
  unsigned char *key, *salt;
  size_t klen, slen;
  bool enc = false;
  if (argc < 3 || !l2s_u8(env, argv[0], &key, &klen) || !l2s_u8(env, argv[1], &salt, &slen) ||
      napi_get_value_bool(env, argv[2], &enc) != napi_ok) {
    napi_throw_type_error(env, NULL, "gcmKey(key, salt, encrypt)");
    return NULL;
  }
  if ((klen != 16 && klen != 24 && klen != 32) || slen != 4) {
    napi_throw_range_error(env, NULL, "gcmKey: key of 16, 24 or 32 bytes, salt of 4");
    return NULL;
  }
  gkey_t *k = calloc(1, sizeof *k);
  if (!k) return l2s_throw_errno(env, 12, "out of memory");
  k->ctx = ev->ctx_new();
  if (!k->ctx || ev->init(k->ctx, klen == 16 ? aes128 : klen == 24 ? aes192 : aes256, NULL, key, NULL, enc ? 1 : 0) != 1) {
    if (k->ctx) ev->ctx_free(k->ctx);
    free(k);
    napi_throw_error(env, NULL, "gcmKey: OpenSSL refused the key");
    return NULL;
  }
  memcpy(k->salt, salt, 4);
  k->encrypt = enc ? 1 : 0;
  napi_value ext;
  napi_create_external(env, k, gkey_finalize, NULL, &ext);
  return ext;
}

static napi_value js_gcm_batch(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  size_t argc = l2s_args(env, info, argv, 6);
  void *kp = NULL;
  unsigned char *src, *dst, *ok;
  size_t sl, dl, okl, rl;
  uint32_t *recs;
  uint32_t n = 0;
  napi_typedarray_type type;
  if (argc < 6 || !l2s_external(env, argv[0], &kp) || !l2s_u8(env, argv[1], &src, &sl) || !l2s_u8(env, argv[2], &dst, &dl) ||
      !l2s_typed(env, argv[3], &type, (void **)&recs, &rl) || napi_get_value_uint32(env, argv[4], &n) != napi_ok ||
      !l2s_u8(env, argv[5], &ok, &okl)) {
    napi_throw_type_error(env, NULL, "gcmBatch(key, src, dst, recs, n, ok)");
    return NULL;
  }
  gkey_t *k = (gkey_t *)kp;
  if (type != napi_uint32_array || rl < (size_t)n * 6 || (!k->encrypt && okl < n)) {
    napi_throw_range_error(env, NULL, "gcmBatch: recs or ok too short");
    return NULL;
  }
  for (uint32_t i = 0; i < n; i++) {
    const uint32_t *r = &recs[6 * i];
    size_t tag_room = k->encrypt ? dl : sl;
    if ((size_t)r[0] + 8 > sl || (size_t)r[1] + 8 > sl || (size_t)r[2] > sl || (size_t)r[3] > sl - r[2] ||
        (size_t)r[4] > dl || (size_t)r[3] > dl - r[4] || (size_t)r[5] + 16 > tag_room || r[3] > 0x7fffffff) {
      napi_throw_range_error(env, NULL, "gcmBatch: record outside the buffers");
      return NULL;
    }
  }
  uint32_t done = 0;
  unsigned char nonce[12];
  memcpy(nonce, k->salt, 4);
  for (uint32_t i = 0; i < n; i++) {
    const uint32_t *r = &recs[6 * i];
    int len = 0, good = 1;
    memcpy(nonce + 4, src + r[1], 8);
    good &= ev->init(k->ctx, NULL, NULL, NULL, nonce, -1) == 1;
    good &= ev->update(k->ctx, NULL, &len, src + r[0], 8) == 1;
    if (r[3] > 0) good &= ev->update(k->ctx, dst + r[4], &len, src + r[2], (int)r[3]) == 1;
    if (k->encrypt) {
      good &= ev->final(k->ctx, dst + r[4] + r[3], &len) == 1;
      good &= ev->ctrl(k->ctx, EVP_CTRL_GCM_GET_TAG, 16, dst + r[5]) == 1;
    } else {
      unsigned char tag[16];
      memcpy(tag, src + r[5], 16);
      good &= ev->ctrl(k->ctx, EVP_CTRL_GCM_SET_TAG, 16, tag) == 1;
      good &= ev->final(k->ctx, dst + r[4] + r[3], &len) == 1;
      ok[i] = (unsigned char)good;
      if (!good) memset(dst + r[4], 0, r[3]); /* no unauthenticated plaintext left behind */
    }
    done += (uint32_t)good;
  }
  napi_value out;
  napi_create_uint32(env, done, &out);
  return out;
}

void l2s_gcm_init(napi_env env, napi_value exports) {
  ev = l2s_evp();
  if (!ev) return;
  aes128 = l2s_evp_cipher("AES-128-GCM", "EVP_aes_128_gcm");
  aes192 = l2s_evp_cipher("AES-192-GCM", "EVP_aes_192_gcm");
  aes256 = l2s_evp_cipher("AES-256-GCM", "EVP_aes_256_gcm");
  if (!aes128 || !aes192 || !aes256) return;
  napi_property_descriptor props[] = {
      {"gcmKey", NULL, js_gcm_key, NULL, NULL, NULL, napi_default, NULL},
      {"gcmBatch", NULL, js_gcm_batch, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
