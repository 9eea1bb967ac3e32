/*
 * rusage-wrap OUT -- CMD ARGS...
 * Runs CMD as a child and, when it exits, writes the kernel's accounting of it
 * (wait4: user and system CPU in microseconds, peak RSS in KiB, minor and
 * major page faults; the child's
 * own figures plus those of any descendants it waited for) to the file OUT as
 * one JSON line. Before that, OUT holds {"pid":N} so the bench can read the
 * child's /proc entries while it runs. Signals SIGTERM/SIGINT are forwarded.
 * Exits with the child's status. Compiled by the bench (bench/measure.mjs).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pid_t child = -1;

static void forward(int sig) {
  if (child > 0) kill(child, sig);
}

static long long usec(struct timeval tv) { return (long long)tv.tv_sec * 1000000LL + tv.tv_usec; }

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: rusage-wrap OUT -- CMD ARGS...\n");
    return 2;
  }
  const char* out = argv[1];
  char** cmd = argv + 3;
  child = fork();
  if (child < 0) {
    perror("fork");
    return 2;
  }
  if (child == 0) {
    execvp(cmd[0], cmd);
    perror(cmd[0]);
    _exit(127);
  }
  FILE* f = fopen(out, "w");
  if (f) {
    fprintf(f, "{\"pid\":%d}\n", (int)child);
    fclose(f);
  }
  struct sigaction sa = {0};
  sa.sa_handler = forward;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  int status = 0;
  struct rusage ru;
  pid_t r;
  do {
    r = wait4(child, &status, 0, &ru);
  } while (r < 0);
  struct timespec now, wall;
  clock_gettime(CLOCK_MONOTONIC, &now);
  clock_gettime(CLOCK_REALTIME, &wall);
  f = fopen(out, "w");
  if (f) {
    fprintf(f,
            "{\"pid\":%d,\"userUs\":%lld,\"sysUs\":%lld,\"maxRssKiB\":%ld,\"minFlt\":%ld,\"majFlt\":%ld,"
            "\"exitCode\":%d,\"signal\":%d,"
            "\"exitedAtUs\":%lld,\"exitedAtWallUs\":%lld}\n",
            (int)child, usec(ru.ru_utime), usec(ru.ru_stime), ru.ru_maxrss, ru.ru_minflt, ru.ru_majflt,
            WIFEXITED(status) ? WEXITSTATUS(status) : -1, WIFSIGNALED(status) ? WTERMSIG(status) : 0,
            (long long)now.tv_sec * 1000000LL + now.tv_nsec / 1000,
            (long long)wall.tv_sec * 1000000LL + wall.tv_nsec / 1000);
    fclose(f);
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}
