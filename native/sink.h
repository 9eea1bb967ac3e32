// A sink writes a session's packets somewhere (a recorder's files, a
// relay's RTMP target) on a thread of its own, so the connection's thread
// never waits for a disk or a network. The connection offers each packet
// (a new reference to the same buffer, no copy) into the sink's bounded
// queue; once its oldest packet has waited more than maxBufferMs (a wall
// clock bound, so a publish sent faster than real time is not mistaken for
// a stalled sink), the oldest whole GOPs go, counted, and the sink reports
// 'dropped'.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "events.h"
#include "ffmpeg_ptr.h"

namespace rtmp_ingest {

// A session's streams as the muxers need them; shared, never changed (a
// stream that appears later makes a new one).
struct SessionStreams {
  std::vector<CodecParametersPtr> params;
  std::vector<AVRational> time_bases;
  // The first video stream: its keyframes start the GOPs. -1 without video.
  int reference_stream = -1;

  // The packet's DTS (its PTS when it has none) in milliseconds.
  int64_t Millis(const AVPacket* packet) const {
    int64_t ts = packet->dts != AV_NOPTS_VALUE ? packet->dts : packet->pts;
    if (ts == AV_NOPTS_VALUE || packet->stream_index >= static_cast<int>(time_bases.size())) return AV_NOPTS_VALUE;
    return av_rescale_q(ts, time_bases[packet->stream_index], AVRational{1, 1000});
  }
  bool StartsGop(const AVPacket* packet) const {
    return reference_stream < 0 || (packet->stream_index == reference_stream && (packet->flags & AV_PKT_FLAG_KEY));
  }
};

// What a sink needs from its server.
struct SinkContext {
  EventQueue* queue = nullptr;
  int log_level = 0;
  std::function<void()> on_finished;  // the sink's thread is done: the server joins it
};

class Sink {
 public:
  Sink(uint64_t id, uint64_t connection, const SinkContext& context, int64_t max_buffer_ms, bool drain_on_stop);
  virtual ~Sink();  // the owner has joined it
  Sink(const Sink&) = delete;
  Sink& operator=(const Sink&) = delete;

  uint64_t id() const { return id_; }
  void Start();
  // From the connection's thread:
  void SetStreams(std::shared_ptr<const SessionStreams> streams);
  void Offer(const AVPacket* packet);
  // The packets offered next start at the next GOP (the sink joined a
  // session whose GOP in progress was too large to keep).
  void AwaitGop();
  // The session ended: the sink finishes once its queue is written.
  void EndOfStream();
  // From any thread: finish now (a recorder still writes what it holds).
  void Stop();
  void Join();
  bool finished() const { return finished_.load(); }
  SinkStats Stats() const;

 protected:
  // The sink's thread: waits for the next packet with the streams it
  // belongs to; false once the session ended and the queue is empty, or on
  // Stop().
  bool Pop(PacketPtr* packet, std::shared_ptr<const SessionStreams>* streams);
  // Waits until the session's streams are known; nullptr when the session
  // ended before or the sink was stopped.
  std::shared_ptr<const SessionStreams> WaitForStreams();
  // Waits up to `ms` or until Stop(); true when stopping.
  bool SleepUnlessStopped(int64_t ms);
  bool stopping() const { return stopping_.load(std::memory_order_relaxed); }
  bool session_ended();
  // Drops everything queued (a relay that gave up); counted.
  void DropQueued();
  // Pushes a Sink event of this sink (what: 'segment', 'error', ...).
  void Report(Event event);
  Event NewReport(const char* what) const;
  // Counts dropped packets at once (stats) and reports them as 'dropped' at
  // most every kDroppedReportUs: a sink dropping packet after packet while a
  // target is down would otherwise send JS an event per packet.
  void CountDropped(int64_t packets);
  // Reports what CountDropped has not reported yet (`force`: whatever the time).
  void ReportDropped(bool force);
  // FFmpeg's interrupt callback for the sink's outputs: true once stopping.
  static int OnInterrupt(void* opaque);

  virtual void Run() = 0;
  // The 'ended' report's details (a recorder's last segment).
  virtual void DescribeEnd(Event* ended) { (void)ended; }

  const uint64_t id_;
  const uint64_t connection_;
  const SinkContext context_;
  std::atomic<int64_t> packets_{0}, bytes_{0}, segments_{0}, dropped_packets_{0}, timestamp_fixups_{0}, reconnects_{0};

 private:
  void Main();
  // With mu_ held: drops the oldest GOPs until the queue is within bounds.
  int64_t TrimLocked();

  const int64_t max_buffer_ms_;
  const bool drain_on_stop_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> finished_{false};
  std::atomic<int64_t> unreported_dropped_{0};
  std::atomic<int64_t> dropped_reported_at_us_{0};

  std::mutex mu_;  // guards what follows
  std::condition_variable cv_;
  struct Queued {
    PacketPtr packet;
    int64_t queued_at_us;
  };
  std::deque<Queued> queue_;
  int64_t queued_bytes_ = 0;
  std::shared_ptr<const SessionStreams> streams_;
  bool ended_ = false;
  // After dropping, packets wait for the next GOP so that nothing written
  // refers to a dropped frame.
  bool awaiting_gop_ = false;
};

}  // namespace rtmp_ingest
