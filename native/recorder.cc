#include "recorder.h"

#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

namespace rtmp_ingest {

namespace {

// How often what avio buffers goes to the file: a killed process loses at
// most this much, beyond the fragment or cluster in progress.
constexpr int64_t kFlushIntervalUs = 1000000;

const char* MuxerName(const std::string& format) {
  if (format == "mkv") return "matroska";
  if (format == "mpegts") return "mpegts";
  if (format == "flv") return "flv";
  return "mp4";
}

// Options that make a file readable up to its last fragment or cluster
// when the process dies before the trailer.
void SetCrashSafeOptions(const std::string& format, Dictionary* options) {
  if (format == "mp4") {
    // Fragmented: a moof at each video keyframe and at least every second
    // (audio-only files too), after an empty moov.
    options->Set("movflags", "frag_keyframe+empty_moov+default_base_moof");
    options->Set("frag_duration", "1000000");
    options->Set("max_interleave_delta", "1000000");
  } else if (format == "mkv") {
    options->Set("cluster_time_limit", "1000");
  }
}

std::string ExpandTime(const std::string& pattern) {
  time_t now = time(nullptr);
  tm local{};
  localtime_r(&now, &local);
  std::string out(pattern.size() * 4 + 256, '\0');
  size_t n = strftime(out.data(), out.size(), pattern.c_str(), &local);
  if (n == 0) return pattern;
  out.resize(n);
  return out;
}

// mkdir -p of the folder `path` is in; 0 or an errno value.
int MakeParentFolders(const std::string& path) {
  for (size_t slash = path.find('/', 1); slash != std::string::npos; slash = path.find('/', slash + 1)) {
    std::string folder = path.substr(0, slash);
    if (mkdir(folder.c_str(), 0777) < 0 && errno != EEXIST) return errno;
  }
  return 0;
}

// `path`, or `name-1.ext`, `name-2.ext`, ... when it exists.
std::string UnusedPath(const std::string& path) {
  if (access(path.c_str(), F_OK) != 0) return path;
  size_t slash = path.rfind('/');
  size_t dot = path.rfind('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) dot = path.size();
  for (int n = 1;; n++) {
    std::string candidate = path.substr(0, dot) + "-" + std::to_string(n) + path.substr(dot);
    if (access(candidate.c_str(), F_OK) != 0) return candidate;
  }
}

}  // namespace

Recorder::Recorder(uint64_t id, uint64_t connection, const SinkContext& context, RecorderOptions options)
    : Sink(id, connection, context, options.max_buffer_ms, /*drain_on_stop=*/true), options_(std::move(options)) {}

Recorder::~Recorder() = default;

void Recorder::Run() {
  PacketPtr packet;
  std::shared_ptr<const SessionStreams> streams;
  while (Pop(&packet, &streams)) {
    int64_t ms = streams->Millis(packet.get());
    if (output_ && streams->StartsGop(packet.get())) {
      // A stream that appeared mid-session gets its place in the next segment.
      bool due = options_.segment_ms > 0 && first_ms_ != AV_NOPTS_VALUE && ms != AV_NOPTS_VALUE &&
                 ms - first_ms_ >= options_.segment_ms;
      if ((due || streams != output_streams_) && !FinishSegment()) return;
    }
    if (!output_ && !OpenSegment(streams)) return;
    bool fixed_up = false, skipped = false;
    int ret = output_->Write(packet.get(), &fixed_up, &skipped);
    if (ret < 0) {
      Fail(ErrorFromAverror(ret, "writing " + path_));
      return;
    }
    if (skipped) {
      dropped_packets_++;
      continue;
    }
    if (fixed_up) timestamp_fixups_++;
    packets_++;
    bytes_ += packet->size;
    if (ms != AV_NOPTS_VALUE) {
      if (first_ms_ == AV_NOPTS_VALUE) first_ms_ = ms;
      int64_t duration_ms = av_rescale_q(packet->duration, streams->time_bases[packet->stream_index], AVRational{1, 1000});
      end_ms_ = std::max(end_ms_ == AV_NOPTS_VALUE ? ms : end_ms_, ms + duration_ms);
    }
    int64_t now = MonotonicMicros();
    if (now - last_flush_us_ >= kFlushIntervalUs) {
      output_->Flush();
      last_flush_us_ = now;
    }
  }
  if (output_) FinishSegment();
}

bool Recorder::OpenSegment(const std::shared_ptr<const SessionStreams>& streams) {
  std::string path = UnusedPath(ExpandTime(options_.path_pattern));
  if (int err = MakeParentFolders(path)) {
    Fail(ErrorFromErrno(err, "creating the folder of " + path));
    return false;
  }
  Dictionary muxer_options;
  SetCrashSafeOptions(options_.format, &muxer_options);
  MuxerOutput::Options open;
  open.format = MuxerName(options_.format);
  open.url = path;
  open.muxer_options = &muxer_options;
  open.interleave = options_.format == "mp4";
  ErrorInfo error;
  output_ = MuxerOutput::Open(open, *streams, &error);
  if (!output_) {
    Fail(error);
    return false;
  }
  output_streams_ = streams;
  path_ = std::move(path);
  first_ms_ = end_ms_ = AV_NOPTS_VALUE;
  last_flush_us_ = MonotonicMicros();
  return true;
}

bool Recorder::FinishSegment() {
  int ret = output_->Finish();
  output_.reset();
  if (ret < 0) {
    Fail(ErrorFromAverror(ret, "finishing " + path_));
    return false;
  }
  struct stat st {};
  last_bytes_ = stat(path_.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : 0;
  last_duration_ms_ = first_ms_ == AV_NOPTS_VALUE ? 0 : end_ms_ - first_ms_;
  last_path_ = path_;
  segments_++;
  Event segment = NewReport("segment");
  segment.path = last_path_;
  segment.duration_ms = last_duration_ms_;
  segment.bytes = last_bytes_;
  Report(std::move(segment));
  return true;
}

void Recorder::Fail(const ErrorInfo& error) {
  output_.reset();  // the file stays as far as it was written
  Event failed = NewReport("error");
  failed.error = error;
  failed.path = path_;
  Report(std::move(failed));
}

void Recorder::DescribeEnd(Event* ended) {
  ended->path = last_path_;
  ended->duration_ms = last_duration_ms_;
  ended->bytes = last_bytes_;
}

}  // namespace rtmp_ingest
