/* See evp.h. */
#define _GNU_SOURCE
#include "evp.h"

#include <dlfcn.h>
#include <stddef.h>

static l2s_evp_t evp;
static int looked_up, complete;

const l2s_evp_t *l2s_evp(void) {
  if (!looked_up) {
    looked_up = 1;
    *(void **)&evp.ctx_new = dlsym(RTLD_DEFAULT, "EVP_CIPHER_CTX_new");
    *(void **)&evp.ctx_free = dlsym(RTLD_DEFAULT, "EVP_CIPHER_CTX_free");
    *(void **)&evp.init = dlsym(RTLD_DEFAULT, "EVP_CipherInit_ex");
    *(void **)&evp.ctrl = dlsym(RTLD_DEFAULT, "EVP_CIPHER_CTX_ctrl");
    *(void **)&evp.padding = dlsym(RTLD_DEFAULT, "EVP_CIPHER_CTX_set_padding");
    *(void **)&evp.update = dlsym(RTLD_DEFAULT, "EVP_CipherUpdate");
    *(void **)&evp.final = dlsym(RTLD_DEFAULT, "EVP_CipherFinal_ex");
    complete = evp.ctx_new && evp.ctx_free && evp.init && evp.ctrl && evp.padding && evp.update && evp.final;
  }
  return complete ? &evp : NULL;
}

typedef EVP_CIPHER *(*fetch_fn)(void *, const char *, const char *);
typedef const EVP_CIPHER *(*getter_fn)(void);

const EVP_CIPHER *l2s_evp_cipher(const char *name, const char *legacy) {
  fetch_fn fetch = (fetch_fn)dlsym(RTLD_DEFAULT, "EVP_CIPHER_fetch");
  const EVP_CIPHER *c = fetch ? fetch(NULL, name, NULL) : NULL;
  if (c) return c;
  getter_fn get = (getter_fn)dlsym(RTLD_DEFAULT, legacy);
  return get ? get() : NULL;
}
