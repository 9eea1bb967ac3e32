#include "stream_probe.h"

extern "C" {
#include <libavcodec/avcodec.h>
}

namespace rtmp_ingest {

namespace {

// A parser that has not found the dimensions in this many packets will not.
constexpr int kMaxProbePackets = 90;

const char* TypeName(AVMediaType type) {
  switch (type) {
    case AVMEDIA_TYPE_VIDEO: return "video";
    case AVMEDIA_TYPE_AUDIO: return "audio";
    default: return "data";
  }
}

// AAC's profile is its AudioSpecificConfig object type minus one
// (AV_PROFILE_AAC_LOW = 1 for object type 2, HE = 4 for 5, HE v2 = 28 for 29).
int AacProfileFromExtradata(const AVCodecParameters* par) {
  if (par->extradata_size < 1) return AV_PROFILE_UNKNOWN;
  int object_type = par->extradata[0] >> 3;
  if (object_type == 31) {
    if (par->extradata_size < 2) return AV_PROFILE_UNKNOWN;
    object_type = 32 + (((par->extradata[0] & 7) << 3) | (par->extradata[1] >> 5));
  }
  return object_type > 0 ? object_type - 1 : AV_PROFILE_UNKNOWN;
}

// Reads a bitstream most significant bit first; reads past the end give 0
// and clear ok.
class BitReader {
 public:
  BitReader(const uint8_t* data, int size) : data_(data), bits_(static_cast<int64_t>(size) * 8) {}
  uint32_t Read(int n) {
    uint32_t value = 0;
    for (int i = 0; i < n; i++, pos_++) {
      if (pos_ >= bits_) {
        ok_ = false;
        return 0;
      }
      value = (value << 1) | ((data_[pos_ >> 3] >> (7 - (pos_ & 7))) & 1);
    }
    return value;
  }
  bool ok() const { return ok_; }

 private:
  const uint8_t* data_;
  int64_t bits_;
  int64_t pos_ = 0;
  bool ok_ = true;
};

// The frame size and pixel format in a VP9 key frame's uncompressed header
// (VP9 bitstream specification, 6.2): FFmpeg's VP9 parser reads only the
// profile and the frame type, and FLV's vpcC has no size. The muxers need
// the pixel format to write a vpcC of their own. Only the packet's first
// frame is read: libvpx codes a key frame first in its packet (hidden
// alt-ref frames come after it), and a miss only means trying the next packet.
bool Vp9KeyFrameHeader(const uint8_t* data, int size, int* width, int* height, AVPixelFormat* format) {
  BitReader bits(data, size);
  if (bits.Read(2) != 2) return false;  // frame_marker
  uint32_t profile = bits.Read(1);
  profile |= bits.Read(1) << 1;
  if (profile == 3) bits.Read(1);     // reserved_zero
  if (bits.Read(1)) return false;     // show_existing_frame
  if (bits.Read(1)) return false;     // frame_type: not KEY_FRAME
  bits.Read(2);                       // show_frame, error_resilient_mode
  if (bits.Read(24) != 0x498342) return false;  // frame_sync_code
  // color_config()
  int depth = profile >= 2 ? (bits.Read(1) ? 12 : 10) : 8;  // ten_or_twelve_bit
  constexpr uint32_t kCsRgb = 7;
  bool four_four_four_capable = profile == 1 || profile == 3;
  bool rgb = bits.Read(3) == kCsRgb;
  uint32_t subsampling_x = 1, subsampling_y = 1;
  if (!rgb) {
    bits.Read(1);  // color_range
    if (four_four_four_capable) {
      subsampling_x = bits.Read(1);
      subsampling_y = bits.Read(1);
      bits.Read(1);  // reserved_zero
    }
  } else if (four_four_four_capable) {
    bits.Read(1);  // reserved_zero
  }
  // frame_size()
  uint32_t w = bits.Read(16) + 1;
  uint32_t h = bits.Read(16) + 1;
  if (!bits.ok()) return false;
  *width = static_cast<int>(w);
  *height = static_cast<int>(h);
  // [depth][subsampling_y][subsampling_x], as libavcodec's VP9 decoder maps them.
  static const AVPixelFormat kYuv[3][2][2] = {
      {{AV_PIX_FMT_YUV444P, AV_PIX_FMT_YUV422P}, {AV_PIX_FMT_YUV440P, AV_PIX_FMT_YUV420P}},
      {{AV_PIX_FMT_YUV444P10, AV_PIX_FMT_YUV422P10}, {AV_PIX_FMT_YUV440P10, AV_PIX_FMT_YUV420P10}},
      {{AV_PIX_FMT_YUV444P12, AV_PIX_FMT_YUV422P12}, {AV_PIX_FMT_YUV440P12, AV_PIX_FMT_YUV420P12}},
  };
  static const AVPixelFormat kRgb[3] = {AV_PIX_FMT_GBRP, AV_PIX_FMT_GBRP10, AV_PIX_FMT_GBRP12};
  int d = depth == 8 ? 0 : depth == 10 ? 1 : 2;
  *format = rgb ? kRgb[d] : kYuv[d][subsampling_y][subsampling_x];
  return true;
}

}  // namespace

StreamProbe::StreamProbe(const AVStream* stream) {
  const AVCodecParameters* par = stream->codecpar;
  if (par->codec_type != AVMEDIA_TYPE_VIDEO) return;
  parser_.reset(av_parser_init(par->codec_id));
  codec_.reset(avcodec_alloc_context3(nullptr));
  if (!parser_ || !codec_ || avcodec_parameters_to_context(codec_.get(), par) < 0) {
    parser_.reset();
    return;
  }
  // FLV carries whole frames: no need to find frame boundaries.
  parser_->flags |= PARSER_FLAG_COMPLETE_FRAMES;
  complete_ = false;
}

void StreamProbe::Feed(const AVPacket* packet) {
  if (complete_) return;
  uint8_t* out = nullptr;
  int out_size = 0;
  av_parser_parse2(parser_.get(), codec_.get(), &out, &out_size, packet->data, packet->size,
                   packet->pts, packet->dts, packet->pos);
  if (parser_->width > 0 && parser_->height > 0) {
    width_ = parser_->width;
    height_ = parser_->height;
  } else if (codec_->codec_id == AV_CODEC_ID_VP9) {
    Vp9KeyFrameHeader(packet->data, packet->size, &width_, &height_, &pixel_format_);
  }
  if ((width_ > 0 && height_ > 0) || ++fed_ >= kMaxProbePackets) complete_ = true;
}

StreamDesc StreamProbe::Describe(const AVStream* stream) const {
  const AVCodecParameters* par = stream->codecpar;
  StreamDesc desc;
  desc.index = stream->index;
  desc.type = TypeName(par->codec_type);
  desc.codec = avcodec_get_name(par->codec_id);
  desc.time_base_num = stream->time_base.num;
  desc.time_base_den = stream->time_base.den;
  desc.bit_rate = par->bit_rate;
  if (par->extradata_size > 0) desc.extradata.assign(par->extradata, par->extradata + par->extradata_size);

  int profile = par->profile;
  int level = par->level;
  if (codec_) {
    if (profile == AV_PROFILE_UNKNOWN) profile = codec_->profile;
    if (level == AV_LEVEL_UNKNOWN) level = codec_->level;
  }
  if (par->codec_id == AV_CODEC_ID_AAC && profile == AV_PROFILE_UNKNOWN) profile = AacProfileFromExtradata(par);
  // avcC: version, profile_idc, constraint flags, level_idc.
  if (par->codec_id == AV_CODEC_ID_H264 && level == AV_LEVEL_UNKNOWN && par->extradata_size >= 4 &&
      par->extradata[0] == 1)
    level = par->extradata[3];
  if (profile != AV_PROFILE_UNKNOWN) {
    const char* name = avcodec_profile_name(par->codec_id, profile);
    if (name) desc.profile = name;
  }
  if (level != AV_LEVEL_UNKNOWN && level >= 0) desc.level = level;

  if (par->codec_type == AVMEDIA_TYPE_VIDEO) {
    desc.pixel_format = par->format >= 0 ? par->format : pixel_format_;
    desc.width = par->width > 0 ? par->width : width_;
    desc.height = par->height > 0 ? par->height : height_;
    AVRational rate = stream->avg_frame_rate.num > 0 ? stream->avg_frame_rate : stream->r_frame_rate;
    // FLV's onMetaData has one frame rate, for the first video track; the
    // others have only what their bitstream says (H.264/HEVC VUI timing, AV1
    // timing_info), which the parser read.
    if ((rate.num <= 0 || rate.den <= 0) && codec_) rate = codec_->framerate;
    if (rate.num > 0 && rate.den > 0) {
      desc.frame_rate_num = rate.num;
      desc.frame_rate_den = rate.den;
    }
  } else if (par->codec_type == AVMEDIA_TYPE_AUDIO) {
    desc.sample_rate = par->sample_rate;
    desc.channels = par->ch_layout.nb_channels;
  }
  return desc;
}

}  // namespace rtmp_ingest
