// What a server is told by lib/ (lib/options.ts defines every default;
// nothing here has one of its own).
#pragma once

#include <cstdint>
#include <string>

namespace rtmp_ingest {

struct ServerOptions {
  std::string host;
  int port = 0;
  bool reuse_port = false;
  bool proxy_protocol = false;
  int64_t max_connections = 0;
  int64_t max_connections_per_address = 0;
  int64_t high_water_mark_bytes = 0;  // per connection
  int64_t handshake_timeout_ms = 0;
  int64_t idle_timeout_ms = 0;
  int64_t probe_ms = 0;
  int log_level = 0;
};

}  // namespace rtmp_ingest
