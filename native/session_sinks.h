// The sinks of one connection's session and the packets a sink added
// mid-session starts from: everything since the latest keyframe of the
// first video stream (or since the session started, before one), or for a
// session without video the last kAudioOnlyHistoryMs. The connection's
// thread offers every packet here; lib/ adds sinks from the JS thread.
#pragma once

#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "events.h"
#include "sink.h"

namespace rtmp_ingest {

class SessionSinks {
 public:
  // From the JS thread (through the server).
  void Add(std::shared_ptr<Sink> sink);
  // From the connection's thread: the session's streams are known, with
  // what the probe learnt of them.
  void Begin(const AVFormatContext* input, const std::vector<StreamDesc>& described);
  // Stream `index` appeared after the session started.
  void AddStream(const AVFormatContext* input, unsigned index, const StreamDesc& described);
  void Offer(const AVPacket* packet);
  // The session is over (or never started): the sinks finish.
  void End();

 private:
  void SetStreamsLocked(std::shared_ptr<const SessionStreams> streams);

  std::mutex mu_;  // guards what follows
  std::vector<std::shared_ptr<Sink>> sinks_;
  std::shared_ptr<const SessionStreams> streams_;
  std::deque<PacketPtr> recent_;
  int64_t recent_bytes_ = 0;
  bool recent_has_gop_ = false;     // a GOP started since the session did
  bool recent_overflowed_ = false;  // too large a GOP: nothing until the next
  bool ended_ = false;
};

}  // namespace rtmp_ingest
