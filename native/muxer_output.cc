#include "muxer_output.h"

#include <utility>

extern "C" {
#include <libavutil/log.h>
}

namespace rtmp_ingest {

std::unique_ptr<MuxerOutput> MuxerOutput::Open(const Options& options, const SessionStreams& streams, ErrorInfo* error) {
  const std::string& name = options.name.empty() ? options.url : options.name;
  AVFormatContext* raw = nullptr;
  int ret = avformat_alloc_output_context2(&raw, nullptr, options.format, options.url.c_str());
  if (ret < 0 || !raw) {
    *error = ErrorFromAverror(ret < 0 ? ret : AVERROR(ENOMEM), std::string("creating the ") + options.format + " muxer");
    return nullptr;
  }
  std::unique_ptr<MuxerOutput> output(new MuxerOutput(OutputPtr(raw)));
  AVFormatContext* ctx = raw;
  ctx->interrupt_callback = options.interrupt;
  if (options.flush_every_packet) ctx->flags |= AVFMT_FLAG_FLUSH_PACKETS;
  output->strict_dts_ = !(ctx->oformat->flags & AVFMT_TS_NONSTRICT);
  output->interleave_ = options.interleave;
  output->dts_floor_from_first_ = std::string(ctx->oformat->name) == "flv";
  const bool mpegts = std::string(ctx->oformat->name) == "mpegts";
  for (size_t i = 0; i < streams.params.size(); i++) {
    const AVCodecParameters* par = streams.params[i].get();
    output->input_time_base_.push_back(streams.time_bases[i]);
    // Audio and video only: FLV's data streams (AMF, text) have no place
    // in the other containers. A codec the container cannot hold is left out.
    bool media = par->codec_type == AVMEDIA_TYPE_VIDEO || par->codec_type == AVMEDIA_TYPE_AUDIO;
    // mpegts takes AV1 and VP9 as private data that no demuxer reads back.
    bool holdable = avformat_query_codec(ctx->oformat, par->codec_id, FF_COMPLIANCE_NORMAL) != 0 &&
                    !(mpegts && (par->codec_id == AV_CODEC_ID_AV1 || par->codec_id == AV_CODEC_ID_VP9));
    if (!media || !holdable) {
      if (media)
        av_log(nullptr, AV_LOG_WARNING, "%s: stream %zu (%s) left out: the container cannot hold it\n",
               options.format, i, avcodec_get_name(par->codec_id));
      output->output_of_.push_back(-1);
      continue;
    }
    AVStream* stream = avformat_new_stream(ctx, nullptr);
    if (!stream || (ret = avcodec_parameters_copy(stream->codecpar, par)) < 0) {
      *error = ErrorFromAverror(stream ? ret : AVERROR(ENOMEM), "adding a stream to the muxer");
      return nullptr;
    }
    stream->codecpar->codec_tag = 0;  // FLV's tags mean nothing to the other muxers
    stream->time_base = streams.time_bases[i];
    output->output_of_.push_back(stream->index);
  }
  if (ctx->nb_streams == 0) {
    *error = ErrorInfo{"ERR_NO_STREAMS", std::string("the session has no stream that ") + options.format + " can hold", 0};
    return nullptr;
  }
  output->last_dts_.assign(ctx->nb_streams, AV_NOPTS_VALUE);
  if (!(ctx->oformat->flags & AVFMT_NOFILE)) {
    ret = avio_open2(&ctx->pb, options.url.c_str(), AVIO_FLAG_WRITE, &ctx->interrupt_callback,
                     options.io_options ? options.io_options->Address() : nullptr);
    if (ret < 0) {
      *error = ErrorFromAverror(ret, "opening " + name);
      return nullptr;
    }
  }
  ret = avformat_write_header(ctx, options.muxer_options ? options.muxer_options->Address() : nullptr);
  if (ret < 0) {
    *error = ErrorFromAverror(ret, "writing the " + std::string(options.format) + " header to " + name);
    return nullptr;
  }
  if (!output->scratch_) {
    *error = ErrorFromAverror(AVERROR(ENOMEM), "allocating a packet");
    return nullptr;
  }
  return output;
}

int MuxerOutput::Write(const AVPacket* packet, bool* fixed_up, bool* skipped) {
  *fixed_up = false;
  *skipped = false;
  int index = packet->stream_index < static_cast<int>(output_of_.size()) ? output_of_[packet->stream_index] : -1;
  if (index < 0) {
    *skipped = true;
    return 0;
  }
  AVPacket* out = scratch_.get();
  int ret = av_packet_ref(out, packet);
  if (ret < 0) return ret;
  out->stream_index = index;
  int64_t& last = last_dts_[index];
  const int64_t dts = out->dts, pts = out->pts;
  const AVRational in_tb = input_time_base_[packet->stream_index];
  if (dts != AV_NOPTS_VALUE && last != AV_NOPTS_VALUE && (dts < last || (strict_dts_ && dts == last)))
    out->dts = strict_dts_ ? last + 1 : last;
  if (dts_floor_from_first_ && out->dts != AV_NOPTS_VALUE) {
    int64_t ms = av_rescale_q(out->dts, in_tb, AVRational{1, 1000});
    if (first_dts_ms_ == AV_NOPTS_VALUE) first_dts_ms_ = ms;
    if (ms < first_dts_ms_) out->dts = av_rescale_q(first_dts_ms_, AVRational{1, 1000}, in_tb);
  }
  if (pts != AV_NOPTS_VALUE && out->dts != AV_NOPTS_VALUE && pts < out->dts) out->pts = out->dts;
  if (out->dts != dts || out->pts != pts) {
    av_log(nullptr, AV_LOG_WARNING, "stream %d: DTS %lld PTS %lld written as DTS %lld PTS %lld (the %s muxer needs %s)\n",
           packet->stream_index, static_cast<long long>(dts), static_cast<long long>(pts),
           static_cast<long long>(out->dts), static_cast<long long>(out->pts), context_->oformat->name,
           strict_dts_ ? "increasing DTS, PTS not before DTS" : "DTS that do not go back, PTS not before DTS");
    *fixed_up = true;
  }
  if (out->dts != AV_NOPTS_VALUE) last = out->dts;
  av_packet_rescale_ts(out, in_tb, context_->streams[index]->time_base);
  // av_interleaved_write_frame takes the packet's reference; av_write_frame does not.
  ret = interleave_ ? av_interleaved_write_frame(context_.get(), out) : av_write_frame(context_.get(), out);
  av_packet_unref(out);
  // A failed write to the file (a full disk) is kept in the AVIOContext.
  if (ret >= 0 && context_->pb && context_->pb->error < 0) ret = context_->pb->error;
  return ret;
}

int MuxerOutput::Finish() {
  int ret = av_write_trailer(context_.get());
  if (context_->pb) avio_flush(context_->pb);
  if (ret >= 0 && context_->pb && context_->pb->error < 0) ret = context_->pb->error;
  return ret;
}

void MuxerOutput::Flush() {
  if (context_->pb) avio_flush(context_->pb);
}

}  // namespace rtmp_ingest
