// One open output of a sink: a libavformat muxer writing a session's audio
// and video streams to a file or an RTMP URL. Timestamps stay as received;
// where a muxer would refuse a packet's DTS (not increasing) or PTS (before
// its DTS), the packet is moved to the nearest value it accepts and the
// fix-up is counted and logged.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "errors.h"
#include "ffmpeg_ptr.h"
#include "sink.h"

namespace rtmp_ingest {

class MuxerOutput {
 public:
  struct Options {
    const char* format = nullptr;  // libavformat's muxer name: 'mp4', 'matroska', 'mpegts', 'flv'
    std::string url;               // a file path or rtmp(s)://
    std::string name;              // what error messages call it (a relay's URL without its key); default url
    Dictionary* io_options = nullptr;
    Dictionary* muxer_options = nullptr;
    AVIOInterruptCB interrupt{nullptr, nullptr};
    bool flush_every_packet = false;  // relays: nothing waits in avio's buffer
    // Through libavformat's interleaving queue (at most max_interleave_delta
    // deep): lets movenc see each track's next packet when it cuts a
    // fragment, so fragment starts keep their timestamps.
    bool interleave = false;
  };

  // nullptr and `error` when the muxer, the file or the connection fails.
  static std::unique_ptr<MuxerOutput> Open(const Options& options, const SessionStreams& streams, ErrorInfo* error);

  // Writes one packet of the session (its stream_index is the session's);
  // 0 or an AVERROR. `skipped` when the output has no such stream.
  int Write(const AVPacket* packet, bool* fixed_up, bool* skipped);
  // Writes what the muxer holds and its trailer; 0 or an AVERROR.
  int Finish();
  // Hands what avio buffers to the file (a crash loses at most what follows).
  void Flush();

 private:
  explicit MuxerOutput(OutputPtr context) : context_(std::move(context)) {}

  OutputPtr context_;
  std::vector<int> output_of_;          // per session stream: the output stream, or -1
  std::vector<AVRational> input_time_base_;
  std::vector<int64_t> last_dts_;       // per output stream, in the input's time base
  bool strict_dts_ = true;
  bool interleave_ = false;
  // flvenc refuses a packet whose DTS is below the first one's (ms).
  bool dts_floor_from_first_ = false;
  int64_t first_dts_ms_ = AV_NOPTS_VALUE;
  PacketPtr scratch_{av_packet_alloc()};
};

}  // namespace rtmp_ingest
