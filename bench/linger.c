/*
 * LD_PRELOAD shim for the publishers: close() on a TCP socket connected to
 * 127.0.0.1 becomes shutdown(SHUT_WR), then reading (and dropping) until the
 * receiver closes its side (at most 60 s), then close().
 *
 * Why: ffmpeg and GStreamer close the socket right after their last write. A
 * receiver that is still working through a backlog keeps sending RTMP
 * acknowledgements; the publisher's kernel answers those with RST, and a RST
 * makes the receiver's kernel drop everything still queued for it. Slower
 * receivers then lose the end of the stream. A lingering close is what a
 * careful client does; the bytes and their timing on the wire are unchanged.
 * Compiled by the bench (bench/measure.mjs).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int (*real_close)(int);

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
  if (getpeername(fd, (struct sockaddr*)&peer, &len) < 0 || peer.sin_family != AF_INET) return 0;
  return (ntohl(peer.sin_addr.s_addr) >> 24) == 127;
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
