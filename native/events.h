// What the reader thread reports to JS, and the queue that batches it.
// The reader pushes from its own thread; the listener drains the queue on
// the JS thread, one thread-safe-function call for everything pushed since
// the previous drain (so packets arrive in batches, never one call each).
#pragma once

#include <time.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
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
};

using MetadataEntries = std::vector<std::pair<std::string, std::string>>;

struct Event {
  enum class Kind { Connection, Authorize, Rejected, Session, Stream, Metadata, Packets, End, Log, Stopped };
  Kind kind;
  std::string remote_address;
  int remote_port = 0;
  uint64_t ticket = 0;
  std::string app, stream_key;
  std::string reason;  // Rejected and End
  std::optional<ErrorInfo> error;
  std::vector<StreamDesc> streams;  // Session: all; Stream: one
  MetadataEntries metadata;
  std::vector<PacketPtr> packets;  // Packets
  std::vector<int64_t> read_at_us; // Packets: when av_read_frame returned each
  int64_t bytes = 0;               // Packets: sum of sizes
  int level = 0;                   // Log
  std::string message;             // Log

  explicit Event(Kind k) : kind(k) {}
};

// CLOCK_MONOTONIC in microseconds: the clock of process.hrtime(), so JS can
// tell how long a packet took from av_read_frame to its handler.
inline int64_t MonotonicMicros() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

// When an environment's JS thread last drained a queue, any listener's: a
// JS thread busy with other listeners is awake even if this one is quiet.
// One per environment, shared by the addon instance and its queues, so it
// lives as long as any reader that reads it, whatever the teardown order.
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
      pending_.push_back(std::move(event));
      wake = !std::exchange(scheduled_, true);
    }
    if (wake) schedule_();
  }

  // Appends to the trailing packet batch, or starts one. True when this
  // push woke a JS thread that had drained nothing, of any listener, for
  // `idle_us`.
  bool PushPacket(PacketPtr packet, int64_t read_at_us, int64_t idle_us) {
    bool wake;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closed_) return false;
      if (pending_.empty() || pending_.back().kind != Event::Kind::Packets)
        pending_.emplace_back(Event::Kind::Packets);
      Event& batch = pending_.back();
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
    return std::exchange(pending_, {});
  }

 private:
  std::mutex mu_;
  std::vector<Event> pending_;
  bool scheduled_ = false;
  std::shared_ptr<JsThreadActivity> activity_;
  bool closed_ = false;
  std::function<void()> schedule_;
};

}  // namespace rtmp_ingest
