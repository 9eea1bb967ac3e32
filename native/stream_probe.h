// Describes a stream without avformat_find_stream_info, which waits for the
// analyze duration (seconds) on a live FLV. The FLV demuxer already knows the
// codec, the extradata and the audio parameters; for video, a parser of our
// own reads the dimensions, profile, level and the bitstream's frame rate
// from the first keyframe. FFmpeg's VP9 parser reads no dimensions: those
// come from the key frame's header, read here.
#pragma once

#include <vector>

#include "events.h"
#include "ffmpeg_ptr.h"

namespace rtmp_ingest {

class StreamProbe {
 public:
  explicit StreamProbe(const AVStream* stream);
  StreamProbe(StreamProbe&&) = default;
  StreamProbe& operator=(StreamProbe&&) = default;

  // Feeds a packet of this stream; cheap once the parameters are known.
  void Feed(const AVPacket* packet);
  // Whether everything a parser can tell is known (always true for audio).
  bool Complete() const { return complete_; }
  StreamDesc Describe(const AVStream* stream) const;

 private:
  ParserPtr parser_;
  CodecContextPtr codec_;
  int width_ = 0, height_ = 0;
  AVPixelFormat pixel_format_ = AV_PIX_FMT_NONE;
  int fed_ = 0;
  bool complete_ = true;
};

}  // namespace rtmp_ingest
