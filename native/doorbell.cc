#include "doorbell.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <uv.h>

#include <utility>

namespace rtmp_ingest {

struct Doorbell::Watch {
  uv_poll_t poll;
  Doorbell* doorbell;  // null once stopped (closing or closed)
  // Environment teardown waits for this hook's removal, which happens in
  // the close callback: Node may not close its loop with the handle open.
  napi_async_cleanup_hook_handle cleanup = nullptr;
};

Doorbell::Doorbell(napi_env env, std::function<void()> on_ring) : on_ring_(std::move(on_ring)) {
  int fds[2];
  if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return;
  read_fd_ = fds[0];
  write_fd_ = fds[1];
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || !loop) return;
  auto* watch = new Watch{};
  watch->doorbell = this;
  if (uv_poll_init(loop, &watch->poll, read_fd_) != 0) {
    delete watch;  // uv_poll_init failed before registering the handle
    return;
  }
  watch->poll.data = watch;
  // Unreferenced: the thread-safe function decides whether the listener
  // keeps the process alive.
  uv_unref(reinterpret_cast<uv_handle_t*>(&watch->poll));
  watch_ = watch;
  int started = uv_poll_start(&watch->poll, UV_READABLE, [](uv_poll_t* handle, int, int) {
    // Only while started, so the Doorbell is alive (StopWatch stops first).
    Doorbell* self = static_cast<Watch*>(handle->data)->doorbell;
    char drained[64];
    while (read(self->read_fd_, drained, sizeof drained) == static_cast<ssize_t>(sizeof drained)) {
    }
    self->on_ring_();
  });
  if (started != 0 ||
      napi_add_async_cleanup_hook(env, [](napi_async_cleanup_hook_handle, void* arg) { StopWatch(static_cast<Watch*>(arg)); },
                                  watch, &watch->cleanup) != napi_ok)
    StopWatch(watch);
}

Doorbell::~Doorbell() {
  if (watch_) StopWatch(watch_);
  // The poll is stopped, so the loop no longer looks at these.
  if (read_fd_ >= 0) close(read_fd_);
  if (write_fd_ >= 0) close(write_fd_);
}

void Doorbell::StopWatch(Watch* watch) {
  if (!watch->doorbell) return;  // already closing
  watch->doorbell->watch_ = nullptr;
  watch->doorbell = nullptr;
  uv_poll_stop(&watch->poll);
  uv_close(reinterpret_cast<uv_handle_t*>(&watch->poll), [](uv_handle_t* handle) {
    auto* closed = static_cast<Watch*>(handle->data);
    if (closed->cleanup) napi_remove_async_cleanup_hook(closed->cleanup);
    delete closed;
  });
}

void Doorbell::Ring() {
  const char ring = 0;
  // EAGAIN: the pipe is full of rings the JS thread has yet to read.
  while (write(write_fd_, &ring, 1) < 0 && errno == EINTR) {
  }
}

}  // namespace rtmp_ingest
