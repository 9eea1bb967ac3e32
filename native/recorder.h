// A sink that records a session to files: one file, or segments cut at the
// first GOP start at or after segmentMs. Each segment starts with a
// keyframe and plays on its own; its path is the pattern expanded when it
// opens (strftime fields; lib/ has already put in the app, key and session
// id), in folders made as needed, never over an existing file.
#pragma once

#include <string>

#include "muxer_output.h"
#include "sink.h"

namespace rtmp_ingest {

struct RecorderOptions {
  std::string path_pattern;
  std::string format;  // 'mp4' | 'mkv' | 'mpegts' | 'flv'
  int64_t segment_ms = 0;  // 0: one file
  int64_t max_buffer_ms = 0;
};

class Recorder : public Sink {
 public:
  Recorder(uint64_t id, uint64_t connection, const SinkContext& context, RecorderOptions options);
  ~Recorder() override;

 private:
  void Run() override;
  void DescribeEnd(Event* ended) override;
  bool OpenSegment(const std::shared_ptr<const SessionStreams>& streams);
  bool FinishSegment();  // false when it failed (reported)
  void Fail(const ErrorInfo& error);

  const RecorderOptions options_;
  std::unique_ptr<MuxerOutput> output_;
  std::shared_ptr<const SessionStreams> output_streams_;
  std::string path_;
  int64_t first_ms_ = AV_NOPTS_VALUE;  // the segment's first DTS
  int64_t end_ms_ = AV_NOPTS_VALUE;    // its last DTS plus that packet's duration
  int64_t last_flush_us_ = 0;
  // The last finished segment, for the 'ended' report.
  std::string last_path_;
  int64_t last_duration_ms_ = 0, last_bytes_ = 0;
};

}  // namespace rtmp_ingest
