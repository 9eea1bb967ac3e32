// How a connection thread wakes the JS thread: a byte written to a pipe that
// the environment's libuv loop watches. A pipe write tells the kernel the
// writer is about to wait (a sync wake-up), so the JS thread is queued on
// the connection thread's own CPU, where its yield lets it run at once. The
// eventfd behind a thread-safe function's wake-up carries no such hint, and
// in the slow hops traced the JS thread waited 1.4-2.5 ms behind the
// publisher on the other CPU. The thread-safe function still carries every
// call into JS: the ring only makes the JS thread call it (README,
// Performance, has what this measured).
#pragma once

#include <node_api.h>

#include <functional>

namespace rtmp_ingest {

class Doorbell {
 public:
  // `on_ring` runs on the JS thread, once per wake-up however many rings it
  // covers. Check ok(): without a pipe or a libuv loop there is no doorbell.
  Doorbell(napi_env env, std::function<void()> on_ring);
  ~Doorbell();  // JS thread; stops the watch if the environment has not
  Doorbell(const Doorbell&) = delete;
  Doorbell& operator=(const Doorbell&) = delete;

  bool ok() const { return watch_ != nullptr; }

  // Any thread, for as long as the Doorbell lives. A ring after the watch
  // stopped (environment teardown) stays unread in the pipe.
  void Ring();

 private:
  // The libuv handle outlives the Doorbell until libuv's close callback:
  // it is owned by the loop from uv_close() on.
  struct Watch;
  static void StopWatch(Watch* watch);

  int read_fd_ = -1;
  int write_fd_ = -1;
  Watch* watch_ = nullptr;  // null before the watch starts and after it stops
  std::function<void()> on_ring_;
};

}  // namespace rtmp_ingest
