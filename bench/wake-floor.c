// The hand-off floor of this machine, without JS: a sender process writes
// 400 bytes over TCP loopback every 10-20 ms; thread R wakes in poll(), reads
// them and writes an eventfd; thread M sleeps in epoll_wait() on it, as
// libuv does, and notes how long after R's write it ran. Not part of
// `npm run bench`: a diagnostic for the hop-latency rows.
//
//   cc -O2 -o /tmp/wake-floor bench/wake-floor.c -lpthread
//   /tmp/wake-floor 600          # the kernel places the threads
//   /tmp/wake-floor 600 0 1      # R on CPU 0, M on CPU 1: every wake crosses CPUs
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int efd, conn, n_msgs, pin_r = -1, pin_m = -1;
static int64_t *sent_at, *latency;
static int *same_cpu;
static volatile int reader_cpu;

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void pin(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof set, &set);
}

static void *reader(void *unused) {
  (void)unused;
  static char buf[65536];
  pin(pin_r);
  for (int i = 0; i < n_msgs; i++) {
    struct pollfd p = {conn, POLLIN, 0};
    poll(&p, 1, -1);
    if (recv(conn, buf, sizeof buf, 0) <= 0) break;
    reader_cpu = sched_getcpu();
    sent_at[i] = now_ns();
    uint64_t one = 1;
    if (write(efd, &one, 8) != 8) break;
  }
  return NULL;
}

static int by_value(const void *a, const void *b) {
  int64_t d = *(const int64_t *)a - *(const int64_t *)b;
  return d < 0 ? -1 : d > 0;
}

int main(int argc, char **argv) {
  n_msgs = argc > 1 ? atoi(argv[1]) : 600;
  if (argc > 3) {
    pin_r = atoi(argv[2]);
    pin_m = atoi(argv[3]);
  }
  sent_at = calloc(n_msgs, sizeof *sent_at);
  latency = calloc(n_msgs, sizeof *latency);
  same_cpu = calloc(n_msgs, sizeof *same_cpu);

  int ls = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t alen = sizeof a;
  if (bind(ls, (void *)&a, sizeof a) || listen(ls, 1) || getsockname(ls, (void *)&a, &alen)) return 1;
  pid_t pid = fork();
  if (pid == 0) {
    int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (connect(s, (void *)&a, sizeof a)) _exit(1);
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char msg[400] = {0};
    srand(1);
    for (int i = 0; i < n_msgs; i++) {
      struct timespec d = {0, (10 + rand() % 11) * 1000000L};
      nanosleep(&d, NULL);
      if (send(s, msg, sizeof msg, 0) < 0) break;
    }
    sleep(1);
    _exit(0);
  }
  conn = accept(ls, NULL, NULL);
  efd = eventfd(0, EFD_NONBLOCK);
  int ep = epoll_create1(0);
  struct epoll_event e = {.events = EPOLLIN};
  epoll_ctl(ep, EPOLL_CTL_ADD, efd, &e);
  pthread_t th;
  pthread_create(&th, NULL, reader, NULL);
  pin(pin_m);
  for (int i = 0; i < n_msgs; i++) {
    struct epoll_event out;
    epoll_wait(ep, &out, 1, -1);
    int64_t woke = now_ns();
    uint64_t v;
    if (read(efd, &v, 8) != 8) break;
    latency[i] = woke - sent_at[i];
    same_cpu[i] = sched_getcpu() == reader_cpu;
  }
  pthread_join(th, NULL);
  waitpid(pid, NULL, 0);

  int same = 0, over_1ms = 0;
  for (int i = 0; i < n_msgs; i++) {
    same += same_cpu[i];
    over_1ms += latency[i] > 1000000;
  }
  qsort(latency, n_msgs, sizeof *latency, by_value);
  printf("hand-off wake of %d: p50 %lld us, p90 %lld, p99 %lld, max %lld; over 1 ms: %d; on the reader's CPU: %d\n", n_msgs,
         (long long)latency[n_msgs / 2] / 1000, (long long)latency[n_msgs * 9 / 10] / 1000,
         (long long)latency[n_msgs * 99 / 100] / 1000, (long long)latency[n_msgs - 1] / 1000, over_1ms, same);
  return 0;
}
