/* Shared by the addon's parts (tun.c, udp.c, hmac.c, gcm.c). */
#ifndef L2S_COMMON_H
#define L2S_COMMON_H
#include <node_api.h>

/* An Error with .code (the errno name) and .errno, thrown; returns NULL. */
napi_value l2s_throw_errno(napi_env env, int e, const char *msg);
void l2s_udp_init(napi_env env, napi_value exports);
void l2s_hmac_init(napi_env env, napi_value exports);
void l2s_gcm_init(napi_env env, napi_value exports);
#endif
