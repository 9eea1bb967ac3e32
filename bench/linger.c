/*
 * LD_PRELOAD shim for the publishers of one extra, labelled row of the bench
 * (every other row runs the publishers unmodified): close() on a TCP socket
 * connected to 127.0.0.1 becomes shutdown(SHUT_WR), then reading (and
 * dropping) until the receiver closes its side (at most 60 s), then close().
 *
 * Why the row: ffmpeg and GStreamer close the socket right after their last
 * write. A receiver that is still working through a backlog and sends an
 * RTMP acknowledgement then gets RST from the publisher's kernel, which also
 * discards what the publisher had not yet sent: such a receiver loses the end
 * of the stream. The row shows what each receiver gets from a publisher that
 * lingers; the bytes and their timing on the wire are unchanged.
 *
 * Also: with RTMP_BENCH_CONNECT_LOG set, every connect() to 127.0.0.1 that
 * succeeds or is in progress appends "<wall-clock µs> <port>\n" to that file
 * (the time of the call). In that row the bench compares it with the SYN it
 * captures (how it takes every publisher's connect time), so the report can
 * say how far apart the two are.
 * Compiled by the bench (bench/measure.mjs).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int (*real_close)(int);
static int (*real_connect)(int, const struct sockaddr*, socklen_t);

static int loopback_addr(const struct sockaddr_in* in) {
  return in->sin_family == AF_INET && (ntohl(in->sin_addr.s_addr) >> 24) == 127;
}

int connect(int fd, const struct sockaddr* addr, socklen_t len) {
  if (!real_connect) real_connect = (int (*)(int, const struct sockaddr*, socklen_t))dlsym(RTLD_NEXT, "connect");
  struct timeval at;
  gettimeofday(&at, NULL);
  int ret = real_connect(fd, addr, len);
  int saved = errno;
  const char* log = getenv("RTMP_BENCH_CONNECT_LOG");
  if (log && addr && len >= (socklen_t)sizeof(struct sockaddr_in) && (ret == 0 || saved == EINPROGRESS)) {
    const struct sockaddr_in* in = (const struct sockaddr_in*)addr;
    if (loopback_addr(in)) {
      char line[64];
      int n = snprintf(line, sizeof(line), "%lld %d\n", (long long)at.tv_sec * 1000000LL + at.tv_usec, ntohs(in->sin_port));
      int out = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (out >= 0) {
        if (write(out, line, (size_t)n) < 0) { /* best effort */ }
        if (!real_close) real_close = (int (*)(int))dlsym(RTLD_NEXT, "close");
        real_close(out);
      }
    }
  }
  errno = saved;
  return ret;
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int loopback_tcp(int fd) {
  int type = 0;
  socklen_t len = sizeof(type);
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM) return 0;
  struct sockaddr_in peer;
  len = sizeof(peer);
  if (getpeername(fd, (struct sockaddr*)&peer, &len) < 0) return 0;
  return loopback_addr(&peer);
}

int close(int fd) {
  if (!real_close) real_close = (int (*)(int))dlsym(RTLD_NEXT, "close");
  int saved = errno;
  if (fd >= 0 && loopback_tcp(fd) && shutdown(fd, SHUT_WR) == 0) {
    char buf[4096];
    long long deadline = now_ms() + 60000;
    for (;;) {
      long long left = deadline - now_ms();
      if (left <= 0) break;
      struct pollfd p = {fd, POLLIN, 0};
      int r = poll(&p, 1, (int)left);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (n <= 0) break;
    }
  }
  errno = saved;
  return real_close(fd);
}
