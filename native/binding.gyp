{
  "targets": [
    {
      "target_name": "tun",
      "sources": ["common.c", "tun.c", "tunoff.c", "cbc.c", "udp.c", "hmac.c", "gcm.c", "once.c", "evp.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-O2"]
    }
  ]
}
