/* node's own OpenSSL EVP cipher calls, looked up once in the process with dlsym (gcm.c, once.c). */
#ifndef L2S_EVP_H
#define L2S_EVP_H
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/evp.h>

typedef struct {
  EVP_CIPHER_CTX *(*ctx_new)(void);
  void (*ctx_free)(EVP_CIPHER_CTX *);
  int (*init)(EVP_CIPHER_CTX *, const EVP_CIPHER *, ENGINE *, const unsigned char *, const unsigned char *, int);
  int (*ctrl)(EVP_CIPHER_CTX *, int, int, void *);
  int (*padding)(EVP_CIPHER_CTX *, int);
  int (*update)(EVP_CIPHER_CTX *, unsigned char *, int *, const unsigned char *, int);
  int (*final)(EVP_CIPHER_CTX *, unsigned char *, int *);
} l2s_evp_t;

/* The calls, or NULL when one is missing (no OpenSSL in reach: the callers' exports stay out). */
const l2s_evp_t *l2s_evp(void);
/* A cipher by OpenSSL 3's name (EVP_CIPHER_fetch, kept for the life of the process), else its
 * EVP_* getter (`legacy`, e.g. "EVP_aes_128_gcm"); NULL when neither exists. */
const EVP_CIPHER *l2s_evp_cipher(const char *name, const char *legacy);
#endif
