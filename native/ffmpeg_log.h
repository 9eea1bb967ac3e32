// FFmpeg has one process-wide log callback. Each reader thread binds its
// listener's queue and level for its lifetime; the callback routes a line to
// whichever listener's thread logged it, so listeners never see each other's
// lines and nothing is printed to stderr.
#pragma once

#include "events.h"

namespace rtmp_ingest {

// Installs the callback (once per process; safe to call from any thread)
// and makes FFmpeg produce lines up to `level`.
void InstallLogCallback(int level);

// Binds the calling thread's FFmpeg log lines to `queue` while it lives.
class ScopedLogRoute {
 public:
  ScopedLogRoute(EventQueue* queue, int level);
  ~ScopedLogRoute();
  ScopedLogRoute(const ScopedLogRoute&) = delete;
  ScopedLogRoute& operator=(const ScopedLogRoute&) = delete;
};

}  // namespace rtmp_ingest
