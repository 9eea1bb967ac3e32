// A sink that publishes a session to another RTMP server (rtmp:// or, with
// TLS, rtmps://). A target that is down or slow never holds the session
// back: packets wait in the sink's bounded queue (the oldest GOPs go when
// it is full), and the relay reconnects with backoff, each time starting
// at a GOP. After the session ends, the relay sends what it holds and
// closes; a relay that is not connected then gives up after one attempt.
#pragma once

#include <string>

#include "muxer_output.h"
#include "sink.h"

namespace rtmp_ingest {

struct RelayOptions {
  std::string url;
  int64_t max_buffer_ms = 0;
  std::vector<std::pair<std::string, std::string>> io_options;  // e.g. TLS: ca_file, tls_verify
};

class Relay : public Sink {
 public:
  Relay(uint64_t id, uint64_t connection, const SinkContext& context, RelayOptions options);
  ~Relay() override;

 private:
  void Run() override;
  bool Connect(const SessionStreams& streams);

  const RelayOptions options_;
  std::unique_ptr<MuxerOutput> output_;
  bool connected_before_ = false;
};

}  // namespace rtmp_ingest
