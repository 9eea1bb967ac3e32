// FFmpeg has one process-wide log callback. Each server thread (accept or
// connection) binds its server's queue, level and connection id for its
// lifetime; the callback routes a line to whichever thread logged it, so
// servers never see each other's lines and nothing is printed to stderr.
#pragma once

#include <string>

#include "events.h"

namespace rtmp_ingest {

// Installs the callback (once per process; safe to call from any thread)
// and makes FFmpeg produce lines up to `level`.
void InstallLogCallback(int level);

// The calling thread's FFmpeg error lines since the last call, "; "-separated
// (without their "[class @ address]" prefixes), whatever the log level.
std::string TakeErrorLines();

// Binds the calling thread's FFmpeg log lines to `queue` while it lives;
// they are tagged with `connection` (0: the server's own).
class ScopedLogRoute {
 public:
  ScopedLogRoute(EventQueue* queue, int level, uint64_t connection);
  ~ScopedLogRoute();
  ScopedLogRoute(const ScopedLogRoute&) = delete;
  ScopedLogRoute& operator=(const ScopedLogRoute&) = delete;
};

}  // namespace rtmp_ingest
