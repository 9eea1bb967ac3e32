#include "relay.h"

#include <algorithm>
#include <utility>

#include "ffmpeg_log.h"

namespace rtmp_ingest {

namespace {

constexpr int64_t kFirstBackoffMs = 500;
constexpr int64_t kMaxBackoffMs = 8000;
// A write that blocks this long (a target that stopped reading) counts as
// a lost connection.
constexpr const char* kWriteTimeoutUs = "10000000";

// The URL without what follows its app: the stream key (and its query) is a
// secret that error messages, and the logs they end up in, must not carry.
std::string WithoutKey(const std::string& url) {
  size_t host = url.find("://");
  size_t app = url.find('/', host == std::string::npos ? 0 : host + 3);
  size_t key = app == std::string::npos ? std::string::npos : url.find('/', app + 1);
  return key == std::string::npos ? url.substr(0, app) + "/*****" : url.substr(0, key) + "/*****";
}

}  // namespace

Relay::Relay(uint64_t id, uint64_t connection, const SinkContext& context, RelayOptions options)
    : Sink(id, connection, context, options.max_buffer_ms, /*drain_on_stop=*/false), options_(std::move(options)) {}

Relay::~Relay() = default;

bool Relay::Connect(const SessionStreams& streams) {
  Dictionary io_options;
  io_options.Set("rw_timeout", kWriteTimeoutUs);
  for (const auto& [key, value] : options_.io_options) io_options.Set(key.c_str(), value.c_str());
  MuxerOutput::Options open;
  open.format = "flv";
  open.url = options_.url;
  open.name = WithoutKey(options_.url);
  open.io_options = &io_options;
  open.interrupt = {&Sink::OnInterrupt, this};
  open.flush_every_packet = true;
  ErrorInfo error;
  TakeErrorLines();
  output_ = MuxerOutput::Open(open, streams, &error);
  if (!output_) {
    // FFmpeg's error lines say why (a certificate rejected): its AVERROR only says EIO.
    std::string why = TakeErrorLines();
    if (!why.empty()) error.message += " (" + why + ")";
    if (!stopping()) {
      Event failed = NewReport("error");
      failed.error = error;
      Report(std::move(failed));
    }
    return false;
  }
  if (connected_before_) reconnects_++;
  connected_before_ = true;
  Report(NewReport("connected"));
  return true;
}

void Relay::Run() {
  std::shared_ptr<const SessionStreams> streams = WaitForStreams();
  if (!streams) return;
  PacketPtr packet;
  int64_t backoff_ms = kFirstBackoffMs;
  // The queue starts where the session or a GOP starts; after a lost
  // connection, the rest of the GOP it broke is dropped.
  bool awaiting_gop = false;
  while (!stopping()) {
    if (!output_) {
      if (!Connect(*streams)) {
        if (stopping() || session_ended()) break;
        if (SleepUnlessStopped(backoff_ms)) break;
        backoff_ms = std::min(backoff_ms * 2, kMaxBackoffMs);
        continue;
      }
      backoff_ms = kFirstBackoffMs;
    }
    if (!Pop(&packet, &streams)) break;
    if (awaiting_gop) {
      if (!streams->StartsGop(packet.get())) {
        CountDropped(1);
        continue;
      }
      awaiting_gop = false;
    }
    bool fixed_up = false, skipped = false;
    int ret = output_->Write(packet.get(), &fixed_up, &skipped);
    if (ret < 0) {
      output_.reset();  // no trailer: the connection is gone
      CountDropped(1);
      awaiting_gop = true;
      if (stopping()) break;
      Event lost = NewReport("disconnected");
      lost.error = ErrorFromAverror(ret, "sending to " + WithoutKey(options_.url));
      Report(std::move(lost));
      continue;
    }
    if (fixed_up) timestamp_fixups_++;
    if (skipped) {
      dropped_packets_++;
    } else {
      packets_++;
      bytes_ += packet->size;
    }
  }
  if (output_) {
    // The session ended (or the relay was stopped): end the publish cleanly.
    output_->Finish();
    output_.reset();
    Report(NewReport("disconnected"));
  }
}

}  // namespace rtmp_ingest
