/*
 * AES-CBC encryption of a batch of ESP records, eight at a time, and
 * decryption in place (the inbound path: no output buffer per batch).
 *
 * CBC encryption is serial within a record: each block waits for the one
 * before it, so one record runs at the latency of the AES instruction, not
 * its throughput, and encrypting 1400 bytes took longer than the rest of
 * the outbound path together. Records are independent of each other, so
 * here eight of them advance in lockstep, one block each per step, and the
 * CPU's AES unit stays busy (what OpenSSL's multi-block TLS code does).
 * x86-64 with AES-NI only; elsewhere cbcKey returns undefined and the
 * caller keeps node:crypto.
 *
 *   cbcKey(key: Uint8Array (16 or 32 bytes)) -> External | undefined
 *   cbcDecryptKey(key: Uint8Array (16 or 32 bytes)) -> External | undefined
 *       the decryption schedule alone (no IV generator): inbound SAs.
 *   cbcDecryptBatch(key: External (from cbcDecryptKey), buf: Uint8Array, recs: Uint32Array, n: number) -> number
 *       record k as below (an IV, then whole blocks of ciphertext), decrypted in
 *       place (the IV stays); each record independently, eight blocks at a time
 *       (CBC decryption has no chain between the blocks once they are read).
 *       Same RangeError as below.
 *   cbcEncryptBatch(key: External, buf: Uint8Array, recs: Uint32Array, n: number, makeIv?: boolean) -> number
 *       for k < n, record k is buf[recs[2k], +recs[2k+1]): a 16-byte IV, then
 *       whole blocks of plaintext, encrypted in place chained from the IV.
 *       makeIv: the IVs are written here first, each the AES encryption of a
 *       counter under a key of this handle's own drawn from getrandom(2): a
 *       pseudorandom permutation of a never-repeating input, so every IV is
 *       unpredictable without that key (RFC 3602 §2.4), with no call into a
 *       random generator per batch.
 *       Returns n; throws a RangeError (and encrypts nothing) when a record
 *       lies outside buf or is not an IV and whole blocks.
 */
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define L2S_AESNI 1
#endif

#ifdef L2S_AESNI
typedef struct {
  __m128i rk[15];
  int rounds;
  __m128i ivk[11]; /* AES-128 key schedule of the IV generator */
  uint64_t iv_nonce, iv_ctr;
} ckey_t;

#define TGT __attribute__((target("aes,sse2")))
#define LANES 8

TGT static __m128i expand128_step(__m128i k, __m128i assist) {
  assist = _mm_shuffle_epi32(assist, 0xff);
  k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
  k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
  k = _mm_xor_si128(k, _mm_slli_si128(k, 4));
  return _mm_xor_si128(k, assist);
}

/* The second half of an AES-256 round: the odd round key from the even one. */
TGT static __m128i expand256_odd(__m128i even, __m128i odd) {
  __m128i assist = _mm_shuffle_epi32(_mm_aeskeygenassist_si128(even, 0), 0xaa);
  odd = _mm_xor_si128(odd, _mm_slli_si128(odd, 4));
  odd = _mm_xor_si128(odd, _mm_slli_si128(odd, 4));
  odd = _mm_xor_si128(odd, _mm_slli_si128(odd, 4));
  return _mm_xor_si128(odd, assist);
}

TGT static void expand128(const unsigned char *key, __m128i *rk) {
  rk[0] = _mm_loadu_si128((const __m128i *)key);
#define R128(i, rcon) rk[i] = expand128_step(rk[i - 1], _mm_aeskeygenassist_si128(rk[i - 1], rcon))
  R128(1, 0x01);
  R128(2, 0x02);
  R128(3, 0x04);
  R128(4, 0x08);
  R128(5, 0x10);
  R128(6, 0x20);
  R128(7, 0x40);
  R128(8, 0x80);
  R128(9, 0x1b);
  R128(10, 0x36);
#undef R128
}

TGT static void expand256(const unsigned char *key, __m128i *rk) {
  rk[0] = _mm_loadu_si128((const __m128i *)key);
  rk[1] = _mm_loadu_si128((const __m128i *)(key + 16));
#define R256(i, rcon)                                                            \
  rk[i] = expand128_step(rk[i - 2], _mm_aeskeygenassist_si128(rk[i - 1], rcon)); \
  if (i + 1 < 15) rk[i + 1] = expand256_odd(rk[i], rk[i - 1])
  R256(2, 0x01);
  R256(4, 0x02);
  R256(6, 0x04);
  R256(8, 0x08);
  R256(10, 0x10);
  R256(12, 0x20);
  R256(14, 0x40);
#undef R256
}

static int have_aesni(void) {
  static int cached = -1;
  if (cached < 0) {
    __builtin_cpu_init();
    cached = __builtin_cpu_supports("aes") && __builtin_cpu_supports("sse2");
  }
  return cached;
}

typedef struct {
  unsigned char *p; /* next block */
  size_t left;      /* blocks still to encrypt */
  __m128i chain;    /* the previous ciphertext block (the IV at first) */
} lane_t;

/* Puts the next record with blocks to encrypt on lane l; 0 when none is left. */
TGT static int assign(lane_t *l, unsigned char *buf, const uint32_t *recs, uint32_t n, uint32_t *next) {
  while (*next < n) {
    uint32_t at = recs[2 * *next], len = recs[2 * *next + 1];
    (*next)++;
    if (len <= 16) continue;
    l->chain = _mm_loadu_si128((const __m128i *)(buf + at));
    l->p = buf + at + 16;
    l->left = (len - 16) / 16;
    return 1;
  }
  return 0;
}

TGT static void encrypt_many(const ckey_t *k, unsigned char *buf, const uint32_t *recs, uint32_t n) {
  lane_t lane[LANES];
  unsigned char idle[16] = {0};
  uint32_t next = 0;
  int active = 0;
  for (int l = 0; l < LANES; l++) {
    if (assign(&lane[l], buf, recs, n, &next)) {
      active++;
    } else {
      lane[l].p = idle;
      lane[l].left = 0;
      lane[l].chain = _mm_setzero_si128();
    }
  }
  const __m128i *rk = k->rk;
  const int nr = k->rounds;
  while (active > 0) {
    __m128i s[LANES];
#pragma GCC unroll 8
    for (int l = 0; l < LANES; l++) s[l] = _mm_xor_si128(_mm_xor_si128(_mm_loadu_si128((const __m128i *)lane[l].p), lane[l].chain), rk[0]);
    for (int r = 1; r < nr; r++) {
      const __m128i key = rk[r];
#pragma GCC unroll 8
      for (int l = 0; l < LANES; l++) s[l] = _mm_aesenc_si128(s[l], key);
    }
#pragma GCC unroll 8
    for (int l = 0; l < LANES; l++) s[l] = _mm_aesenclast_si128(s[l], rk[nr]);
    for (int l = 0; l < LANES; l++) {
      if (lane[l].left == 0) continue;
      _mm_storeu_si128((__m128i *)lane[l].p, s[l]);
      lane[l].chain = s[l];
      lane[l].p += 16;
      if (--lane[l].left == 0) {
        if (!assign(&lane[l], buf, recs, n, &next)) {
          active--;
          lane[l].p = idle;
        }
      }
    }
  }
}

/* A decryption key: the equivalent inverse cipher's schedule (FIPS 197 5.3.5). */
typedef struct {
  __m128i dk[15];
  int rounds;
} dkey_t;

/* Externals of the two kinds carry a type tag: one is never taken for the other. */
static const napi_type_tag ENC_TAG = {0x6c3273636263656eULL, 0x4b45590000000001ULL};
static const napi_type_tag DEC_TAG = {0x6c3273636263656eULL, 0x4b45590000000002ULL};

static int tagged(napi_env env, napi_value v, const napi_type_tag *tag, void **data) {
  bool ok = false;
  if (napi_check_object_type_tag(env, v, tag, &ok) != napi_ok || !ok) return 0;
  return l2s_external(env, v, data);
}

TGT static void make_dk(const __m128i *rk, int nr, dkey_t *d) {
  d->rounds = nr;
  d->dk[0] = rk[nr];
  for (int i = 1; i < nr; i++) d->dk[i] = _mm_aesimc_si128(rk[nr - i]);
  d->dk[nr] = rk[0];
}

#define DEC_GROUP 8

/*
 * CBC decryption of each record in place: P_j = D(C_j) xor C_{j-1}, C_0 = the IV.
 * Blocks of one record are independent once their ciphertext is loaded, so a
 * record goes DEC_GROUP blocks at a time: all of the group's ciphertext is read
 * (and the last block kept as the next group's chain) before any plaintext is
 * written over it.
 */
TGT static void decrypt_many(const dkey_t *k, unsigned char *buf, const uint32_t *recs, uint32_t n) {
  const __m128i *dk = k->dk;
  const int nr = k->rounds;
  for (uint32_t i = 0; i < n; i++) {
    unsigned char *p = buf + recs[2 * i];
    size_t blocks = (recs[2 * i + 1] - 16) / 16;
    __m128i chain = _mm_loadu_si128((const __m128i *)p);
    p += 16;
    while (blocks >= DEC_GROUP) {
      __m128i c[DEC_GROUP], s[DEC_GROUP];
#pragma GCC unroll 8
      for (int l = 0; l < DEC_GROUP; l++) {
        c[l] = _mm_loadu_si128((const __m128i *)(p + 16 * l));
        s[l] = _mm_xor_si128(c[l], dk[0]);
      }
      for (int r = 1; r < nr; r++) {
        const __m128i key = dk[r];
#pragma GCC unroll 8
        for (int l = 0; l < DEC_GROUP; l++) s[l] = _mm_aesdec_si128(s[l], key);
      }
#pragma GCC unroll 8
      for (int l = 0; l < DEC_GROUP; l++) s[l] = _mm_aesdeclast_si128(s[l], dk[nr]);
      _mm_storeu_si128((__m128i *)p, _mm_xor_si128(s[0], chain));
#pragma GCC unroll 7
      for (int l = 1; l < DEC_GROUP; l++) _mm_storeu_si128((__m128i *)(p + 16 * l), _mm_xor_si128(s[l], c[l - 1]));
      chain = c[DEC_GROUP - 1];
      p += 16 * DEC_GROUP;
      blocks -= DEC_GROUP;
    }
    while (blocks > 0) {
      __m128i c = _mm_loadu_si128((const __m128i *)p);
      __m128i s = _mm_xor_si128(c, dk[0]);
      for (int r = 1; r < nr; r++) s = _mm_aesdec_si128(s, dk[r]);
      s = _mm_aesdeclast_si128(s, dk[nr]);
      _mm_storeu_si128((__m128i *)p, _mm_xor_si128(s, chain));
      chain = c;
      p += 16;
      blocks--;
    }
  }
}

/* IV k = AES-128_ivk(nonce | counter), written at each record's start. */
TGT static void make_ivs(ckey_t *k, unsigned char *buf, const uint32_t *recs, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) {
    __m128i s = _mm_set_epi64x((long long)k->iv_ctr++, (long long)k->iv_nonce);
    s = _mm_xor_si128(s, k->ivk[0]);
    for (int r = 1; r < 10; r++) s = _mm_aesenc_si128(s, k->ivk[r]);
    s = _mm_aesenclast_si128(s, k->ivk[10]);
    _mm_storeu_si128((__m128i *)(buf + recs[2 * i]), s);
  }
}

static int fill_random(void *p, size_t len) {
  unsigned char *b = p;
  while (len > 0) {
    ssize_t r = getrandom(b, len, 0);
    if (r < 0) return 0;
    b += r;
    len -= (size_t)r;
  }
  return 1;
}

/* Zeroes key material (volatile: not an elided dead store). */
static void wipe(void *data, size_t len) {
  volatile unsigned char *p = data;
  for (size_t i = 0; i < len; i++) p[i] = 0;
}

/* A key's External dies: its memory wiped (the hint is its size) and freed. */
static void key_finalize(napi_env env, void *data, void *hint) {
  wipe(data, (size_t)hint);
  free(data);
}

/* The key k (size bytes) as a tagged External; the schedule rk it was made from is wiped. */
static napi_value key_external(napi_env env, void *k, size_t size, const napi_type_tag *tag, __m128i *rk) {
  napi_value out;
  wipe(rk, 15 * sizeof(__m128i));
  napi_create_external(env, k, key_finalize, (void *)size, &out);
  napi_type_tag_object(env, out, tag);
  return out;
}

/*
 * The key argument of cbcKey/cbcDecryptKey expanded into rk: its round count, 0 when
 * undefined is the answer (another size, no AES-NI: *out is set), -1 when a TypeError
 * was thrown.
 */
static int key_arg(napi_env env, napi_callback_info info, const char *usage, __m128i *rk, napi_value *out) {
  napi_value argv[1];
  unsigned char *key;
  size_t klen;
  if (l2s_args(env, info, argv, 1) < 1 || !l2s_u8(env, argv[0], &key, &klen)) {
    napi_throw_type_error(env, NULL, usage);
    return -1;
  }
  if ((klen != 16 && klen != 32) || !have_aesni()) {
    napi_get_undefined(env, out);
    return 0;
  }
  if (klen == 16) {
    expand128(key, rk);
    return 10;
  }
  expand256(key, rk);
  return 14;
}

static napi_value js_cbc_key(napi_env env, napi_callback_info info) {
  napi_value out;
  __m128i rk[15];
  int nr = key_arg(env, info, "cbcKey(key)", rk, &out);
  if (nr <= 0) return nr < 0 ? NULL : out;
  ckey_t *k = aligned_alloc(16, sizeof(ckey_t));
  unsigned char seed[32];
  if (!k || !fill_random(seed, sizeof seed)) {
    wipe(rk, sizeof rk);
    free(k);
    return k ? l2s_throw_errno(env, 5, "cbcKey: getrandom failed") : l2s_throw_errno(env, 12, "out of memory");
  }
  memset(k, 0, sizeof *k);
  expand128(seed, k->ivk);
  memcpy(&k->iv_nonce, seed + 16, 8);
  memset(seed, 0, sizeof seed);
  memcpy(k->rk, rk, sizeof rk);
  k->rounds = nr;
  return key_external(env, k, sizeof *k, &ENC_TAG, rk);
}

static napi_value js_cbc_dec_key(napi_env env, napi_callback_info info) {
  napi_value out;
  __m128i rk[15];
  int nr = key_arg(env, info, "cbcDecryptKey(key)", rk, &out);
  if (nr <= 0) return nr < 0 ? NULL : out;
  dkey_t *d = aligned_alloc(16, sizeof(dkey_t));
  if (!d) {
    wipe(rk, sizeof rk);
    return l2s_throw_errno(env, 12, "out of memory");
  }
  make_dk(rk, nr, d);
  return key_external(env, d, sizeof *d, &DEC_TAG, rk);
}

/*
 * The arguments every batch call shares, (key, buf, recs: Uint32Array, n), checked:
 * the key of this tag, and every record inside buf and an IV plus whole blocks. The
 * argument count, or 0 when an error was thrown (and nothing may be touched).
 */
static size_t batch_args(napi_env env, napi_callback_info info, napi_value *argv, size_t max, const napi_type_tag *tag,
                         const char *name, void **kp, unsigned char **buf, uint32_t **recs, uint32_t *n) {
  char msg[128];
  size_t blen, rl;
  napi_typedarray_type type;
  size_t argc = l2s_args(env, info, argv, max);
  if (argc < 4 || !tagged(env, argv[0], tag, kp) || !l2s_u8(env, argv[1], buf, &blen) ||
      !l2s_typed(env, argv[2], &type, (void **)recs, &rl) || type != napi_uint32_array ||
      napi_get_value_uint32(env, argv[3], n) != napi_ok) {
    snprintf(msg, sizeof msg, "%s(key, buf, recs: Uint32Array, n)", name);
    napi_throw_type_error(env, NULL, msg);
    return 0;
  }
  if ((size_t)*n * 2 > rl) {
    snprintf(msg, sizeof msg, "%s: recs shorter than 2n", name);
    napi_throw_range_error(env, NULL, msg);
    return 0;
  }
  for (uint32_t i = 0; i < *n; i++) {
    uint64_t at = (*recs)[2 * i], len = (*recs)[2 * i + 1];
    if (at + len > blen || len < 16 || len % 16 != 0) {
      snprintf(msg, sizeof msg, "%s: a record outside the buffer, or not an IV and whole blocks", name);
      napi_throw_range_error(env, NULL, msg);
      return 0;
    }
  }
  return argc;
}

/* cbcEncryptBatch (decrypt 0) and cbcDecryptBatch (decrypt 1). */
static napi_value cbc_batch(napi_env env, napi_callback_info info, int decrypt) {
  napi_value argv[5];
  void *kp = NULL;
  unsigned char *buf;
  uint32_t *recs;
  uint32_t n = 0;
  size_t argc = batch_args(env, info, argv, decrypt ? 4 : 5, decrypt ? &DEC_TAG : &ENC_TAG, decrypt ? "cbcDecryptBatch" : "cbcEncryptBatch", &kp,
                           &buf, &recs, &n);
  if (argc == 0) return NULL;
  if (decrypt) {
    decrypt_many((const dkey_t *)kp, buf, recs, n);
  } else {
    bool make_iv = false;
    if (argc >= 5) napi_get_value_bool(env, argv[4], &make_iv);
    if (make_iv) make_ivs((ckey_t *)kp, buf, recs, n);
    encrypt_many((const ckey_t *)kp, buf, recs, n);
  }
  napi_value out;
  napi_create_uint32(env, n, &out);
  return out;
}

static napi_value js_cbc_batch(napi_env env, napi_callback_info info) { return cbc_batch(env, info, 0); }
static napi_value js_cbc_dec_batch(napi_env env, napi_callback_info info) { return cbc_batch(env, info, 1); }

void l2s_cbc_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"cbcKey", NULL, js_cbc_key, NULL, NULL, NULL, napi_default, NULL},
      {"cbcEncryptBatch", NULL, js_cbc_batch, NULL, NULL, NULL, napi_default, NULL},
      {"cbcDecryptKey", NULL, js_cbc_dec_key, NULL, NULL, NULL, napi_default, NULL},
      {"cbcDecryptBatch", NULL, js_cbc_dec_batch, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
#else
/* Not x86-64: no exports, the caller keeps node:crypto. */
void l2s_cbc_init(napi_env env, napi_value exports) {
  (void)env;
  (void)exports;
}
#endif
