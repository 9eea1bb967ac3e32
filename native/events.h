// What a server's threads report to JS, and the queue that batches it.
// Connection threads push from their own threads; the JS server object
// drains the queue on the JS thread, one thread-safe-function call for
// everything pushed since the previous drain (so packets arrive in batches,
// never one call each). Every event names its connection.
#pragma once

#include <time.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <node_api.h>

#include "errors.h"
#include "ffmpeg_ptr.h"

namespace rtmp_ingest {

struct StreamDesc {
  int index = 0;
  std::string type;  // 'video' | 'audio' | 'data'
  std::string codec;
  std::string profile;  // empty when unknown
  int level = -1;       // -1 when unknown
  int width = 0, height = 0;
  int frame_rate_num = 0, frame_rate_den = 0;
  int sample_rate = 0, channels = 0;
  int64_t bit_rate = 0;
  int time_base_num = 1, time_base_den = 1000;
  std::vector<uint8_t> extradata;
  int pixel_format = -1;  // AVPixelFormat where the bitstream tells it (VP9); for the muxers, not JS
};

// A sink's counters (lib/native.ts NativeSinkStats).
struct SinkStats {
  int64_t packets = 0, bytes = 0, segments = 0, dropped_packets = 0, timestamp_fixups = 0, reconnects = 0;
};

// Packets a connection read but did not send to JS (while only sinks took
// its session's packets): lib/ adds them to the session's stats.
struct PacketCounts {
  struct Stream {
    int64_t packets = 0, bytes = 0, keyframes = 0;
  };
  int64_t packets = 0, bytes = 0, keyframes = 0, corrupt = 0;
  int64_t last_read_us = 0;  // CLOCK_MONOTONIC
  std::vector<Stream> streams;  // by stream index
};

using MetadataEntries = std::vector<std::pair<std::string, std::string>>;

struct Event {
  enum class Kind { Connection, Authorize, Rejected, Session, Stream, Metadata, Packets, End, Closed, Log, Stopped, Sink };
  Kind kind;
  uint64_t connection = 0;  // the connection's id; 0 for the server's own events
  std::string remote_address;
  int remote_port = 0;
  std::string app, stream_key;
  std::string reason;  // Rejected and End; Sink: what happened ('segment', 'error', ...)
  std::optional<ErrorInfo> error;
  std::vector<StreamDesc> streams;  // Session: all; Stream: one
  MetadataEntries metadata;
  std::vector<PacketPtr> packets;  // Packets
  std::vector<int64_t> read_at_us; // Packets: when av_read_frame returned each
  int64_t bytes = 0;               // Packets: sum of sizes
  int level = 0;                   // Log
  std::string message;             // Log
  uint64_t sink = 0;               // Sink: the sink's id
  std::string path;                // Sink 'segment': the file
  int64_t duration_ms = 0;         // Sink 'segment'; bytes holds its size
  int64_t count = 0;               // Sink 'dropped': packets
  std::optional<SinkStats> stats;  // Sink 'ended'
  std::optional<PacketCounts> undelivered;  // End

  Event(Kind k, uint64_t connection_id) : kind(k), connection(connection_id) {}
};

// CLOCK_MONOTONIC in microseconds: the clock of process.hrtime(), so JS can
// tell how long a packet took from av_read_frame to its handler.
inline int64_t MonotonicMicros() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

// When an environment's JS thread last drained a queue, any server's: a
// JS thread busy with other servers is awake even if this one is quiet.
// One per environment, shared by the addon instance and its queues, so it
// lives as long as any server that reads it, whatever the teardown order.
struct JsThreadActivity {
  std::atomic<int64_t> last_drain_us{0};
  static std::shared_ptr<JsThreadActivity> Of(napi_env env);  // addon.cc
};

class EventQueue {
 public:
  // `schedule` asks the JS thread to drain; it is called once per batch.
  // Set it before any thread pushes.
  void SetSchedule(std::function<void()> schedule) { schedule_ = std::move(schedule); }
  // Where drains are noted (see PushPacket). Set before any thread pushes.
  void SetActivity(std::shared_ptr<JsThreadActivity> activity) { activity_ = std::move(activity); }

  // After Close() nothing is scheduled and the JS side drops what it drains.
  void Close() {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    pending_.clear();
    last_event_of_.clear();
  }
  bool closed() {
    std::lock_guard<std::mutex> lock(mu_);
    return closed_;
  }

  void Push(Event event) {
    bool wake;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closed_) return;
      last_event_of_[event.connection] = pending_.size();
      pending_.push_back(std::move(event));
      wake = !std::exchange(scheduled_, true);
    }
    if (wake) schedule_();
  }

  // Appends to the connection's packet batch if that is its latest pending
  // event, or starts one. True when this push woke a JS thread that had
  // drained nothing, of any server, for `idle_us`.
  bool PushPacket(uint64_t connection, PacketPtr packet, int64_t read_at_us, int64_t idle_us) {
    bool wake;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closed_) return false;
      auto [latest, inserted] = last_event_of_.try_emplace(connection, pending_.size());
      if (inserted || pending_[latest->second].kind != Event::Kind::Packets) {
        latest->second = pending_.size();
        pending_.emplace_back(Event::Kind::Packets, connection);
      }
      Event& batch = pending_[latest->second];
      batch.bytes += packet->size;
      batch.packets.push_back(std::move(packet));
      batch.read_at_us.push_back(read_at_us);
      wake = !std::exchange(scheduled_, true);
    }
    if (wake) schedule_();
    return wake && activity_ && read_at_us - activity_->last_drain_us.load(std::memory_order_relaxed) >= idle_us;
  }

  std::vector<Event> TakeAll() {
    if (activity_) activity_->last_drain_us.store(MonotonicMicros(), std::memory_order_relaxed);
    std::lock_guard<std::mutex> lock(mu_);
    scheduled_ = false;
    last_event_of_.clear();
    return std::exchange(pending_, {});
  }

 private:
  std::mutex mu_;
  std::vector<Event> pending_;
  // Where each connection's latest event is in pending_: packets join that
  // batch only if nothing of theirs came after it, so each connection's
  // events keep their order.
  std::unordered_map<uint64_t, size_t> last_event_of_;
  bool scheduled_ = false;
  std::shared_ptr<JsThreadActivity> activity_;
  bool closed_ = false;
  std::function<void()> schedule_;
};

}  // namespace rtmp_ingest
