#include "session_sinks.h"

#include <utility>

namespace rtmp_ingest {

namespace {

constexpr int64_t kAudioOnlyHistoryMs = 2000;
// A GOP larger than this is not kept for late sinks (they start at the next).
constexpr int64_t kMaxRecentBytes = 64 << 20;

// A copy of the stream's parameters for the muxers, completed with what the
// probe read from the bitstream (the FLV demuxer leaves video dimensions 0).
CodecParametersPtr ParamsOf(const AVStream* stream, const StreamDesc& described) {
  CodecParametersPtr params(avcodec_parameters_alloc());
  if (!params || avcodec_parameters_copy(params.get(), stream->codecpar) < 0) return nullptr;
  if (params->width <= 0 && described.width > 0) params->width = described.width;
  if (params->height <= 0 && described.height > 0) params->height = described.height;
  if (params->sample_rate <= 0 && described.sample_rate > 0) params->sample_rate = described.sample_rate;
  if (params->format < 0 && described.pixel_format >= 0) params->format = described.pixel_format;
  if (params->framerate.num <= 0 && described.frame_rate_num > 0)
    params->framerate = AVRational{described.frame_rate_num, described.frame_rate_den};
  return params;
}

std::shared_ptr<SessionStreams> StreamsOf(const AVFormatContext* input, const std::vector<StreamDesc>& described) {
  auto streams = std::make_shared<SessionStreams>();
  for (unsigned i = 0; i < input->nb_streams; i++) {
    StreamDesc none;
    CodecParametersPtr params = ParamsOf(input->streams[i], i < described.size() ? described[i] : none);
    if (!params) return nullptr;
    if (streams->reference_stream < 0 && params->codec_type == AVMEDIA_TYPE_VIDEO) streams->reference_stream = static_cast<int>(i);
    streams->params.push_back(std::move(params));
    streams->time_bases.push_back(input->streams[i]->time_base);
  }
  return streams;
}

}  // namespace

void SessionSinks::Add(std::shared_ptr<Sink> sink) {
  std::lock_guard<std::mutex> lock(mu_);
  if (streams_) {
    sink->SetStreams(streams_);
    if (recent_overflowed_) sink->AwaitGop();
    for (const PacketPtr& packet : recent_) sink->Offer(packet.get());
  }
  if (ended_) sink->EndOfStream();
  sinks_.push_back(std::move(sink));
}

void SessionSinks::SetStreamsLocked(std::shared_ptr<const SessionStreams> streams) {
  streams_ = std::move(streams);
  for (auto& sink : sinks_) sink->SetStreams(streams_);
}

void SessionSinks::Begin(const AVFormatContext* input, const std::vector<StreamDesc>& described) {
  std::lock_guard<std::mutex> lock(mu_);
  SetStreamsLocked(StreamsOf(input, described));
}

void SessionSinks::AddStream(const AVFormatContext* input, unsigned index, const StreamDesc& described) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!streams_) return;
  std::vector<StreamDesc> all(input->nb_streams);
  if (index < all.size()) all[index] = described;
  auto streams = StreamsOf(input, all);
  if (!streams) return;
  // The streams described before keep what their probe found.
  for (size_t i = 0; i < streams->params.size() && i < streams_->params.size(); i++)
    avcodec_parameters_copy(streams->params[i].get(), streams_->params[i].get());
  SetStreamsLocked(std::move(streams));
}

void SessionSinks::Offer(const AVPacket* packet) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!streams_ || ended_) return;
  const SessionStreams& streams = *streams_;
  if (streams.reference_stream >= 0) {
    // The first GOP keeps what came before its keyframe (the session's start).
    if (streams.StartsGop(packet) && std::exchange(recent_has_gop_, true)) {
      recent_.clear();
      recent_bytes_ = 0;
      recent_overflowed_ = false;
    }
  } else {
    int64_t now_ms = streams.Millis(packet);
    while (!recent_.empty() && now_ms != AV_NOPTS_VALUE &&
           now_ms - streams.Millis(recent_.front().get()) > kAudioOnlyHistoryMs) {
      recent_bytes_ -= recent_.front()->size;
      recent_.pop_front();
    }
  }
  if (!recent_overflowed_) {
    PacketPtr ref(av_packet_alloc());
    if (ref && av_packet_ref(ref.get(), packet) >= 0) {
      recent_bytes_ += ref->size;
      recent_.push_back(std::move(ref));
    }
    if (recent_bytes_ > kMaxRecentBytes) {
      recent_.clear();
      recent_bytes_ = 0;
      recent_overflowed_ = true;
    }
  }
  for (auto& sink : sinks_) sink->Offer(packet);
}

void SessionSinks::End() {
  std::lock_guard<std::mutex> lock(mu_);
  ended_ = true;
  recent_.clear();
  recent_bytes_ = 0;
  for (auto& sink : sinks_) sink->EndOfStream();
}

}  // namespace rtmp_ingest
