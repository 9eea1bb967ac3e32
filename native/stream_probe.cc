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
    complete_ = true;
  } else if (++fed_ >= kMaxProbePackets) {
    complete_ = true;
  }
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
    desc.width = par->width > 0 ? par->width : width_;
    desc.height = par->height > 0 ? par->height : height_;
    AVRational rate = stream->avg_frame_rate.num > 0 ? stream->avg_frame_rate : stream->r_frame_rate;
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
