#include "js_convert.h"

#include <cmath>
#include <limits>

namespace rtmp_ingest {

namespace {

// Below this size a copy is cheaper than an external buffer and its finalizer.
constexpr int kCopyBelowBytes = 512;
constexpr size_t kMetaFields = 7;  // PACKET_META_FIELDS in lib/native.ts

// Keeps a packet's AVBufferRef alive as long as the JS Buffer over it.
struct ExternalPacket {
  AVBufferRef* ref;
  int64_t size;
  bool counted;  // reported to V8 as external memory
};

void FreeExternalPacket(Napi::Env env, uint8_t*, ExternalPacket* hold) {
  if (hold->counted) Napi::MemoryManagement::AdjustExternalMemory(env, -hold->size);
  av_buffer_unref(&hold->ref);
  delete hold;
}

Napi::Value PacketData(Napi::Env env, PacketPtr& packet) {
  if (packet->size < kCopyBelowBytes || !packet->buf)
    return Napi::Buffer<uint8_t>::Copy(env, packet->data, packet->size);
  auto* hold = new ExternalPacket{packet->buf, packet->size, false};
  packet->buf = nullptr;  // the Buffer owns the reference now
  uint8_t* data = packet->data;
  // NewOrCopy copies (and runs the finalizer at once) where the runtime
  // forbids external buffers, e.g. Electron's memory cage.
  auto buffer = Napi::Buffer<uint8_t>::NewOrCopy(env, data, packet->size, FreeExternalPacket, hold);
  if (buffer.Data() == data) {
    hold->counted = true;
    Napi::MemoryManagement::AdjustExternalMemory(env, hold->size);
  }
  return buffer;
}

double Timestamp(int64_t value) {
  return value == AV_NOPTS_VALUE ? std::numeric_limits<double>::quiet_NaN() : static_cast<double>(value);
}

Napi::Value PacketsToJs(Napi::Env env, Event& event) {
  Napi::Object out = Napi::Object::New(env);
  size_t count = event.packets.size();
  Napi::Float64Array meta = Napi::Float64Array::New(env, count * kMetaFields);
  Napi::Array data = Napi::Array::New(env, count);
  double* m = meta.Data();
  for (size_t i = 0; i < count; i++) {
    PacketPtr& packet = event.packets[i];
    m[i * kMetaFields + 0] = packet->stream_index;
    m[i * kMetaFields + 1] = Timestamp(packet->pts);
    m[i * kMetaFields + 2] = Timestamp(packet->dts);
    m[i * kMetaFields + 3] = static_cast<double>(packet->duration);
    m[i * kMetaFields + 4] = ((packet->flags & AV_PKT_FLAG_KEY) ? 1 : 0) | ((packet->flags & AV_PKT_FLAG_CORRUPT) ? 2 : 0);
    m[i * kMetaFields + 5] = packet->size;
    m[i * kMetaFields + 6] = static_cast<double>(event.read_at_us[i]);
    data.Set(static_cast<uint32_t>(i), PacketData(env, packet));
    packet.reset();
  }
  out.Set("type", "packets");
  out.Set("meta", meta);
  out.Set("data", data);
  out.Set("bytes", Napi::Number::New(env, static_cast<double>(event.bytes)));
  return out;
}

Napi::Array Rational(Napi::Env env, int num, int den) {
  Napi::Array pair = Napi::Array::New(env, 2);
  pair.Set(0u, num);
  pair.Set(1u, den);
  return pair;
}

Napi::Object StreamToJs(Napi::Env env, const StreamDesc& s) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("index", s.index);
  o.Set("type", s.type);
  o.Set("codec", s.codec);
  if (!s.profile.empty()) o.Set("profile", s.profile);
  if (s.level >= 0) o.Set("level", s.level);
  if (s.width > 0) o.Set("width", s.width);
  if (s.height > 0) o.Set("height", s.height);
  if (s.frame_rate_num > 0) o.Set("frameRate", Rational(env, s.frame_rate_num, s.frame_rate_den));
  if (s.sample_rate > 0) o.Set("sampleRate", s.sample_rate);
  if (s.channels > 0) o.Set("channels", s.channels);
  if (s.bit_rate > 0) o.Set("bitRate", Napi::Number::New(env, static_cast<double>(s.bit_rate)));
  o.Set("timeBase", Rational(env, s.time_base_num, s.time_base_den));
  o.Set("extradata", Napi::Buffer<uint8_t>::Copy(env, s.extradata.data(), s.extradata.size()));
  return o;
}

Napi::Object MetadataToJs(Napi::Env env, const MetadataEntries& metadata) {
  Napi::Object o = Napi::Object::New(env);
  for (const auto& [key, value] : metadata) o.Set(key, value);
  return o;
}

const char* KindName(Event::Kind kind) {
  switch (kind) {
    case Event::Kind::Connection: return "connection";
    case Event::Kind::Authorize: return "authorize";
    case Event::Kind::Rejected: return "rejected";
    case Event::Kind::Session: return "session";
    case Event::Kind::Stream: return "stream";
    case Event::Kind::Metadata: return "metadata";
    case Event::Kind::Packets: return "packets";
    case Event::Kind::End: return "end";
    case Event::Kind::Log: return "log";
    case Event::Kind::Stopped: return "stopped";
  }
  return "unknown";
}

}  // namespace

Napi::Object ErrorToJs(Napi::Env env, const ErrorInfo& error) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("code", error.code);
  o.Set("message", error.message);
  if (error.averror != 0) o.Set("averror", error.averror);
  return o;
}

Napi::Value EventToJs(Napi::Env env, Event& event) {
  if (event.kind == Event::Kind::Packets) return PacketsToJs(env, event);
  Napi::Object o = Napi::Object::New(env);
  o.Set("type", KindName(event.kind));
  switch (event.kind) {
    case Event::Kind::Connection:
      o.Set("remoteAddress", event.remote_address);
      o.Set("remotePort", event.remote_port);
      break;
    case Event::Kind::Authorize:
      o.Set("ticket", Napi::Number::New(env, static_cast<double>(event.ticket)));
      o.Set("app", event.app);
      o.Set("streamKey", event.stream_key);
      o.Set("remoteAddress", event.remote_address);
      o.Set("remotePort", event.remote_port);
      break;
    case Event::Kind::Rejected:
      o.Set("reason", event.reason);
      o.Set("remoteAddress", event.remote_address);
      o.Set("remotePort", event.remote_port);
      break;
    case Event::Kind::Session: {
      Napi::Array streams = Napi::Array::New(env, event.streams.size());
      for (size_t i = 0; i < event.streams.size(); i++) streams.Set(static_cast<uint32_t>(i), StreamToJs(env, event.streams[i]));
      o.Set("streams", streams);
      o.Set("metadata", MetadataToJs(env, event.metadata));
      break;
    }
    case Event::Kind::Stream:
      o.Set("stream", StreamToJs(env, event.streams.at(0)));
      break;
    case Event::Kind::Metadata:
      o.Set("metadata", MetadataToJs(env, event.metadata));
      break;
    case Event::Kind::End:
      o.Set("reason", event.reason);
      break;
    case Event::Kind::Log:
      o.Set("level", event.level);
      o.Set("message", event.message);
      break;
    case Event::Kind::Packets:
    case Event::Kind::Stopped:
      break;
  }
  if (event.error) o.Set("error", ErrorToJs(env, *event.error));
  return o;
}

}  // namespace rtmp_ingest
