// The PROXY protocol (HAProxy's, versions 1 and 2), which load balancers
// such as HAProxy and AWS NLB put before the client's bytes to say whom a
// connection comes from. Read on the connection's own thread, before
// libavformat sees the socket: exactly the header's bytes are consumed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace rtmp_ingest {

struct ProxySource {
  std::string address;
  int port = 0;
};

struct ProxyHeader {
  bool ok = false;
  bool timed_out = false;
  // The client the header names; empty for LOCAL (v2) and UNKNOWN (v1)
  // headers, where the connection's own peer stands.
  std::optional<ProxySource> source;
  std::string error;  // why the header is invalid
};

// Reads one header from the blocking socket `fd`, waiting until
// `deadline_us` (CLOCK_MONOTONIC µs) at most.
ProxyHeader ReadProxyHeader(int fd, int64_t deadline_us);

}  // namespace rtmp_ingest
