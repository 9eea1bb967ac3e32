#include "sink.h"

#include <chrono>
#include <utility>

#include "ffmpeg_log.h"

namespace rtmp_ingest {

namespace {

// A sink's queue never holds more than this, whatever maxBufferMs allows
// (4K at 45 Mb/s for 20 s).
constexpr int64_t kMaxQueuedBytes = 128 << 20;
// 'dropped' reports: at most four a second.
constexpr int64_t kDroppedReportUs = 250000;

}  // namespace

Sink::Sink(uint64_t id, uint64_t connection, const SinkContext& context, int64_t max_buffer_ms, bool drain_on_stop)
    : id_(id), connection_(connection), context_(context), max_buffer_ms_(max_buffer_ms), drain_on_stop_(drain_on_stop) {}

Sink::~Sink() = default;

void Sink::Start() { thread_ = std::thread(&Sink::Main, this); }

void Sink::Join() {
  if (thread_.joinable()) thread_.join();
}

void Sink::Main() {
  {
    ScopedLogRoute log_route(context_.queue, context_.log_level, connection_);
    Run();
    // Whatever is still queued will not be written (a relay stopped, a
    // recorder failed), and nothing more is taken.
    int64_t unwritten;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ended_ = true;
      unwritten = static_cast<int64_t>(queue_.size());
      queue_.clear();
      queued_bytes_ = 0;
    }
    if (unwritten > 0) CountDropped(unwritten);
    ReportDropped(true);
    Event ended = NewReport("ended");
    ended.stats = Stats();
    DescribeEnd(&ended);
    Report(std::move(ended));
  }
  finished_.store(true);
  context_.on_finished();
}

SinkStats Sink::Stats() const {
  SinkStats s;
  s.packets = packets_.load();
  s.bytes = bytes_.load();
  s.segments = segments_.load();
  s.dropped_packets = dropped_packets_.load();
  s.timestamp_fixups = timestamp_fixups_.load();
  s.reconnects = reconnects_.load();
  return s;
}

void Sink::SetStreams(std::shared_ptr<const SessionStreams> streams) {
  std::lock_guard<std::mutex> lock(mu_);
  streams_ = std::move(streams);
  cv_.notify_all();
}

void Sink::Offer(const AVPacket* packet) {
  int64_t dropped = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (ended_ || stopping() || !streams_) return;
    if (awaiting_gop_ && !streams_->StartsGop(packet)) {
      dropped = 1;
    } else {
      awaiting_gop_ = false;
      PacketPtr ref(av_packet_alloc());
      if (!ref || av_packet_ref(ref.get(), packet) < 0) {
        dropped = 1;
        awaiting_gop_ = true;
      } else {
        queued_bytes_ += ref->size;
        queue_.push_back(Queued{std::move(ref), MonotonicMicros()});
        dropped = TrimLocked();
        cv_.notify_all();
      }
    }
  }
  if (dropped > 0) CountDropped(dropped);
}

int64_t Sink::TrimLocked() {
  int64_t dropped = 0;
  const int64_t oldest_allowed_us = MonotonicMicros() - max_buffer_ms_ * 1000;
  while (!queue_.empty() && (queue_.front().queued_at_us < oldest_allowed_us || queued_bytes_ > kMaxQueuedBytes)) {
    // The oldest GOP goes whole: up to the next packet that starts one.
    size_t next_gop = 1;
    while (next_gop < queue_.size() && !streams_->StartsGop(queue_[next_gop].packet.get())) next_gop++;
    if (next_gop == queue_.size()) awaiting_gop_ = true;  // the GOP in progress goes too
    for (size_t i = 0; i < next_gop; i++) {
      queued_bytes_ -= queue_.front().packet->size;
      queue_.pop_front();
      dropped++;
    }
  }
  return dropped;
}

void Sink::CountDropped(int64_t packets) {
  dropped_packets_ += packets;
  unreported_dropped_ += packets;
  ReportDropped(false);
}

void Sink::ReportDropped(bool force) {
  int64_t now = MonotonicMicros();
  int64_t last = dropped_reported_at_us_.load();
  if (!force && (now - last < kDroppedReportUs || !dropped_reported_at_us_.compare_exchange_strong(last, now))) return;
  int64_t packets = unreported_dropped_.exchange(0);
  if (packets <= 0) return;
  Event dropped = NewReport("dropped");
  dropped.count = packets;
  Report(std::move(dropped));
}

void Sink::DropQueued() {
  int64_t dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    dropped = static_cast<int64_t>(queue_.size());
    queue_.clear();
    queued_bytes_ = 0;
    awaiting_gop_ = true;
  }
  if (dropped > 0) CountDropped(dropped);
}

void Sink::AwaitGop() {
  std::lock_guard<std::mutex> lock(mu_);
  awaiting_gop_ = true;
}

void Sink::EndOfStream() {
  std::lock_guard<std::mutex> lock(mu_);
  ended_ = true;
  cv_.notify_all();
}

bool Sink::session_ended() {
  std::lock_guard<std::mutex> lock(mu_);
  return ended_;
}

void Sink::Stop() {
  stopping_.store(true);
  std::lock_guard<std::mutex> lock(mu_);
  cv_.notify_all();
}

bool Sink::Pop(PacketPtr* packet, std::shared_ptr<const SessionStreams>* streams) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return stopping() || ended_ || (streams_ && !queue_.empty()); });
  if (queue_.empty() || (stopping() && !drain_on_stop_)) return false;
  *packet = std::move(queue_.front().packet);
  queue_.pop_front();
  queued_bytes_ -= (*packet)->size;
  *streams = streams_;
  return true;
}

std::shared_ptr<const SessionStreams> Sink::WaitForStreams() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return stopping() || ended_ || streams_; });
  return stopping() ? nullptr : streams_;
}

bool Sink::SleepUnlessStopped(int64_t ms) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, std::chrono::milliseconds(ms), [&] { return stopping(); });
}

Event Sink::NewReport(const char* what) const {
  Event event(Event::Kind::Sink, connection_);
  event.sink = id_;
  event.reason = what;
  return event;
}

void Sink::Report(Event event) { context_.queue->Push(std::move(event)); }

int Sink::OnInterrupt(void* opaque) { return static_cast<Sink*>(opaque)->stopping() ? 1 : 0; }

}  // namespace rtmp_ingest
