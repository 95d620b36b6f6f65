/*
 * The native side of the whole-path benchmark (bench/path.ts), built with cc at
 * run time. Three modes, each bounded in time, each printing one JSON line:
 *
 *   fwd sink  BIND_IP PORT WARMUP_MS WINDOW_MS
 *       counts UDP datagrams (recvmmsg); {"packets": in the window, "seconds", "total"}
 *   fwd blast BIND_IP BIND_PORT DST_IP DST_PORT POOL_FILE MS [AUTH_KEY_HEX FIRST_SEQ]
 *       sends the pool's datagrams round robin (sendmmsg, connected socket) for MS;
 *       with a key, each datagram is ESP (RFC 4303) under HMAC-SHA1-96: the sequence
 *       number is rewritten and the ICV recomputed, so the receiver's anti-replay
 *       window accepts every one; {"sent"}
 *   fwd fwd   IN_IP IN_PORT OUT_IP OUT_PORT MS
 *       the limit: recvmmsg on IN, sendmmsg of the same bytes to OUT; {"forwarded"}
 *
 * Pool file: u32 count (little endian), then count times (u32 length, bytes).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define MAXLEN 2048
#define ICV 12

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void die(const char *what) {
  fprintf(stderr, "fwd: %s: %s\n", what, strerror(errno));
  exit(1);
}

static struct sockaddr_in addr(const char *ip, int port) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, ip, &a.sin_addr) != 1) {
    fprintf(stderr, "fwd: bad address %s\n", ip);
    exit(2);
  }
  return a;
}

static int udp_socket(const char *ip, int port) {
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  if (s < 0) die("socket");
  int one = 1, buf = 8 << 20;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf) < 0) setsockopt(s, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  if (setsockopt(s, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof buf) < 0) setsockopt(s, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  struct timeval tv = {0, 50000};
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  struct sockaddr_in a = addr(ip, port);
  if (bind(s, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
  return s;
}

static void connect_to(int s, const char *ip, int port) {
  struct sockaddr_in a = addr(ip, port);
  if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) die("connect");
}

static unsigned char bufs[BATCH][MAXLEN];
static struct mmsghdr msgs[BATCH];
static struct iovec iovs[BATCH];

static void init_rx(void) {
  for (int i = 0; i < BATCH; i++) {
    iovs[i].iov_base = bufs[i];
    iovs[i].iov_len = MAXLEN;
    memset(&msgs[i], 0, sizeof msgs[i]);
    msgs[i].msg_hdr.msg_iov = &iovs[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
}

static int sink(char **av) {
  int s = udp_socket(av[0], atoi(av[1]));
  double warm = atof(av[2]), window = atof(av[3]);
  init_rx();
  unsigned long total = 0, at_start = 0, at_end = 0;
  double t0 = now_ms(), start = t0 + warm, end = start + window, t_start = 0, t_end = 0;
  int started = 0;
  for (;;) {
    int n = recvmmsg(s, msgs, BATCH, 0, NULL);
    if (n > 0) total += (unsigned long)n;
    double t = now_ms();
    if (!started && t >= start) {
      started = 1;
      at_start = total;
      t_start = t;
    }
    if (t >= end) {
      at_end = total;
      t_end = t;
      break;
    }
    for (int i = 0; i < BATCH; i++) iovs[i].iov_len = MAXLEN;
  }
  printf("{\"packets\":%lu,\"seconds\":%.6f,\"total\":%lu}\n", at_end - at_start, (t_end - t_start) / 1e3, total);
  return 0;
}

static unsigned char *read_pool(const char *file, uint32_t *count, uint32_t **lens) {
  FILE *f = fopen(file, "rb");
  if (!f) die(file);
  if (fread(count, 4, 1, f) != 1 || *count == 0) {
    fprintf(stderr, "fwd: empty pool\n");
    exit(2);
  }
  unsigned char *data = calloc(*count, MAXLEN);
  *lens = calloc(*count, 4);
  for (uint32_t i = 0; i < *count; i++) {
    if (fread(&(*lens)[i], 4, 1, f) != 1 || (*lens)[i] > MAXLEN || (*lens)[i] < 8 + ICV) {
      fprintf(stderr, "fwd: bad pool entry %u\n", i);
      exit(2);
    }
    if (fread(data + (size_t)i * MAXLEN, (*lens)[i], 1, f) != 1) die("pool read");
  }
  fclose(f);
  return data;
}

/* HMAC (RFC 2104) with the key's inner and outer states computed once. */
static SHA_CTX h_in, h_out;
static void hmac_init(const unsigned char *key, size_t klen) {
  unsigned char k[64] = {0}, pad[64];
  if (klen > 64) {
    SHA1(key, klen, k);
  } else {
    memcpy(k, key, klen);
  }
  for (int i = 0; i < 64; i++) pad[i] = k[i] ^ 0x36;
  SHA1_Init(&h_in);
  SHA1_Update(&h_in, pad, 64);
  for (int i = 0; i < 64; i++) pad[i] = k[i] ^ 0x5c;
  SHA1_Init(&h_out);
  SHA1_Update(&h_out, pad, 64);
}
static void hmac_sha1_96(const unsigned char *d, size_t len, unsigned char *out) {
  SHA_CTX c = h_in;
  unsigned char inner[20], full[20];
  SHA1_Update(&c, d, len);
  SHA1_Final(inner, &c);
  c = h_out;
  SHA1_Update(&c, inner, 20);
  SHA1_Final(full, &c);
  memcpy(out, full, ICV);
}

static int blast(int ac, char **av) {
  int s = udp_socket(av[0], atoi(av[1]));
  connect_to(s, av[2], atoi(av[3]));
  uint32_t count, *lens;
  unsigned char *pool = read_pool(av[4], &count, &lens);
  double ms = atof(av[5]);
  int esp = ac >= 8;
  uint32_t seq = 0;
  if (esp) {
    const char *hex = av[6];
    size_t klen = strlen(hex) / 2;
    unsigned char key[128];
    if (klen == 0 || klen > sizeof key) {
      fprintf(stderr, "fwd: bad key\n");
      return 2;
    }
    for (size_t i = 0; i < klen; i++) sscanf(hex + 2 * i, "%2hhx", &key[i]);
    hmac_init(key, klen);
    seq = (uint32_t)strtoul(av[7], NULL, 10);
  }
  unsigned long sent = 0;
  uint32_t next = 0;
  double end = now_ms() + ms;
  while (now_ms() < end) {
    for (int i = 0; i < BATCH; i++) {
      unsigned char *p = pool + (size_t)next * MAXLEN;
      size_t len = lens[next];
      next = (next + 1) % count;
      if (esp) {
        memcpy(bufs[i], p, len);
        uint32_t be = htonl(seq++);
        memcpy(bufs[i] + 4, &be, 4);
        hmac_sha1_96(bufs[i], len - ICV, bufs[i] + len - ICV);
        iovs[i].iov_base = bufs[i];
      } else {
        iovs[i].iov_base = p;
      }
      iovs[i].iov_len = len;
      memset(&msgs[i], 0, sizeof msgs[i]);
      msgs[i].msg_hdr.msg_iov = &iovs[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int n = sendmmsg(s, msgs, BATCH, 0);
    if (n > 0) sent += (unsigned long)n;
    else if (n < 0 && errno != ENOBUFS && errno != EAGAIN && errno != ECONNREFUSED && errno != EINTR) die("sendmmsg");
  }
  printf("{\"sent\":%lu,\"next_seq\":%u}\n", sent, seq);
  return 0;
}

static int forward(char **av) {
  int in = udp_socket(av[0], atoi(av[1]));
  int out = socket(AF_INET, SOCK_DGRAM, 0);
  if (out < 0) die("socket");
  int buf = 8 << 20;
  if (setsockopt(out, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof buf) < 0) setsockopt(out, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  connect_to(out, av[2], atoi(av[3]));
  double end = now_ms() + atof(av[4]);
  init_rx();
  unsigned long forwarded = 0;
  while (now_ms() < end) {
    int n = recvmmsg(in, msgs, BATCH, 0, NULL);
    if (n <= 0) continue;
    for (int i = 0; i < n; i++) iovs[i].iov_len = msgs[i].msg_len;
    int done = 0;
    while (done < n) {
      int m = sendmmsg(out, msgs + done, (unsigned)(n - done), 0);
      if (m <= 0) {
        if (errno == ECONNREFUSED || errno == ENOBUFS || errno == EAGAIN || errno == EINTR) break;
        die("sendmmsg");
      }
      done += m;
    }
    forwarded += (unsigned long)done;
    for (int i = 0; i < BATCH; i++) iovs[i].iov_len = MAXLEN;
  }
  printf("{\"forwarded\":%lu}\n", forwarded);
  return 0;
}

int main(int ac, char **av) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (ac >= 6 && strcmp(av[1], "sink") == 0) return sink(av + 2);
  if (ac >= 8 && strcmp(av[1], "blast") == 0) return blast(ac - 2, av + 2);
  if (ac >= 7 && strcmp(av[1], "fwd") == 0) return forward(av + 2);
  fprintf(stderr, "usage: fwd sink|blast|fwd ... (see bench/fwd.c)\n");
  return 2;
}
