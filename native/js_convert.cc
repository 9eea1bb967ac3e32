#include "js_convert.h"

#include <cmath>
#include <limits>
#include <string>

namespace rtmp_ingest {

namespace {

// Below this size a copy is cheaper than an external buffer and its finalizer.
constexpr int kCopyBelowBytes = 512;
constexpr size_t kMetaFields = 6;  // PACKET_META_FIELDS in lib/native.ts

// The JS Buffer over a packet holds the packet's AVBufferRef (the hint)
// and drops it when collected. No napi_adjust_external_memory: V8 already
// counts every ArrayBuffer's backing store, external ones included
// (ArrayBufferSweeper), so reporting it again doubled the pressure and
// forced a full GC every ~64 MB received.
void FreeExternalPacket(napi_env, void*, void* hint) {
  auto* ref = static_cast<AVBufferRef*>(hint);
  av_buffer_unref(&ref);
}

// Builds JS values; after the first failed call every further call is a
// no-op returning nullptr, and ok() is false.
class JsWriter {
 public:
  explicit JsWriter(napi_env env) : env_(env) {}
  bool ok() const { return ok_; }

  napi_value Object() {
    napi_value v = nullptr;
    if (ok_) Check(napi_create_object(env_, &v));
    return v;
  }
  napi_value Array(size_t length) {
    napi_value v = nullptr;
    if (ok_) Check(napi_create_array_with_length(env_, length, &v));
    return v;
  }
  napi_value String(const std::string& s) {
    napi_value v = nullptr;
    if (ok_) Check(napi_create_string_utf8(env_, s.data(), s.size(), &v));
    return v;
  }
  napi_value Number(double d) {
    napi_value v = nullptr;
    if (ok_) Check(napi_create_double(env_, d, &v));
    return v;
  }
  napi_value Copy(const uint8_t* data, size_t size) {
    napi_value v = nullptr;
    void* unused;
    if (ok_) Check(napi_create_buffer_copy(env_, size, data, &unused, &v));
    return v;
  }
  napi_value Float64Array(size_t length, double** data) {
    napi_value buffer = nullptr, array = nullptr;
    void* raw = nullptr;
    if (ok_ && Check(napi_create_arraybuffer(env_, length * sizeof(double), &raw, &buffer)))
      Check(napi_create_typedarray(env_, napi_float64_array, length, buffer, 0, &array));
    *data = static_cast<double*>(raw);
    return array;
  }
  void Set(napi_value object, const char* key, napi_value value) {
    if (ok_) Check(napi_set_named_property(env_, object, key, value));
  }
  void Set(napi_value object, const char* key, const std::string& value) { Set(object, key, String(value)); }
  void Set(napi_value object, const char* key, double value) { Set(object, key, Number(value)); }
  void SetIndex(napi_value array, uint32_t index, napi_value value) {
    if (ok_) Check(napi_set_element(env_, array, index, value));
  }

  // A Buffer over the packet's memory (zero copy), or a copy where that is
  // cheaper or the runtime forbids external buffers (Electron's memory cage).
  napi_value PacketData(PacketPtr& packet) {
    if (!ok_) return nullptr;
    if (packet->size < kCopyBelowBytes || !packet->buf) return Copy(packet->data, packet->size);
    napi_value v = nullptr;
    napi_status status =
        napi_create_external_buffer(env_, packet->size, packet->data, FreeExternalPacket, packet->buf, &v);
    if (status == napi_ok) {
      packet->buf = nullptr;  // the Buffer owns the reference now
      return v;
    }
    // Not handed over: the packet still owns its buffer.
    if (status == napi_no_external_buffers_allowed) return Copy(packet->data, packet->size);
    ok_ = false;
    return nullptr;
  }

 private:
  bool Check(napi_status status) {
    if (status != napi_ok) ok_ = false;
    return ok_;
  }

  napi_env env_;
  bool ok_ = true;
};

double Timestamp(int64_t value) {
  return value == AV_NOPTS_VALUE ? std::numeric_limits<double>::quiet_NaN() : static_cast<double>(value);
}

napi_value PacketsToJs(JsWriter& js, Event& event) {
  napi_value out = js.Object();
  size_t count = event.packets.size();
  double* m = nullptr;
  napi_value meta = js.Float64Array(count * kMetaFields, &m);
  napi_value data = js.Array(count);
  for (size_t i = 0; i < count && js.ok(); i++) {
    PacketPtr& packet = event.packets[i];
    double* row = m + i * kMetaFields;
    row[0] = packet->stream_index;
    row[1] = Timestamp(packet->pts);
    row[2] = Timestamp(packet->dts);
    row[3] = static_cast<double>(packet->duration);
    row[4] = ((packet->flags & AV_PKT_FLAG_KEY) ? 1 : 0) | ((packet->flags & AV_PKT_FLAG_CORRUPT) ? 2 : 0);
    row[5] = static_cast<double>(event.read_at_us[i]);
    js.SetIndex(data, static_cast<uint32_t>(i), js.PacketData(packet));
    packet.reset();
  }
  js.Set(out, "type", std::string("packets"));
  js.Set(out, "meta", meta);
  js.Set(out, "data", data);
  js.Set(out, "bytes", static_cast<double>(event.bytes));
  return out;
}

napi_value Rational(JsWriter& js, int num, int den) {
  napi_value pair = js.Array(2);
  js.SetIndex(pair, 0, js.Number(num));
  js.SetIndex(pair, 1, js.Number(den));
  return pair;
}

napi_value StreamToJs(JsWriter& js, const StreamDesc& s) {
  napi_value o = js.Object();
  js.Set(o, "index", s.index);
  js.Set(o, "type", s.type);
  js.Set(o, "codec", s.codec);
  if (!s.profile.empty()) js.Set(o, "profile", s.profile);
  if (s.level >= 0) js.Set(o, "level", s.level);
  if (s.width > 0) js.Set(o, "width", s.width);
  if (s.height > 0) js.Set(o, "height", s.height);
  if (s.frame_rate_num > 0) js.Set(o, "frameRate", Rational(js, s.frame_rate_num, s.frame_rate_den));
  if (s.sample_rate > 0) js.Set(o, "sampleRate", s.sample_rate);
  if (s.channels > 0) js.Set(o, "channels", s.channels);
  if (s.bit_rate > 0) js.Set(o, "bitRate", static_cast<double>(s.bit_rate));
  js.Set(o, "timeBase", Rational(js, s.time_base_num, s.time_base_den));
  js.Set(o, "extradata", js.Copy(s.extradata.data(), s.extradata.size()));
  return o;
}

napi_value MetadataToJs(JsWriter& js, const MetadataEntries& metadata) {
  napi_value o = js.Object();
  for (const auto& [key, value] : metadata) js.Set(o, key.c_str(), value);
  return o;
}

napi_value ErrorToJs(JsWriter& js, const ErrorInfo& error) {
  napi_value o = js.Object();
  js.Set(o, "code", error.code);
  js.Set(o, "message", error.message);
  if (error.averror != 0) js.Set(o, "averror", error.averror);
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

napi_value EventToJs(JsWriter& js, Event& event) {
  if (event.kind == Event::Kind::Packets) return PacketsToJs(js, event);
  napi_value o = js.Object();
  js.Set(o, "type", std::string(KindName(event.kind)));
  switch (event.kind) {
    case Event::Kind::Connection:
      js.Set(o, "remoteAddress", event.remote_address);
      js.Set(o, "remotePort", event.remote_port);
      break;
    case Event::Kind::Authorize:
      js.Set(o, "ticket", static_cast<double>(event.ticket));
      js.Set(o, "app", event.app);
      js.Set(o, "streamKey", event.stream_key);
      js.Set(o, "remoteAddress", event.remote_address);
      js.Set(o, "remotePort", event.remote_port);
      break;
    case Event::Kind::Rejected:
      js.Set(o, "reason", event.reason);
      js.Set(o, "remoteAddress", event.remote_address);
      js.Set(o, "remotePort", event.remote_port);
      break;
    case Event::Kind::Session: {
      napi_value streams = js.Array(event.streams.size());
      for (size_t i = 0; i < event.streams.size(); i++)
        js.SetIndex(streams, static_cast<uint32_t>(i), StreamToJs(js, event.streams[i]));
      js.Set(o, "streams", streams);
      js.Set(o, "metadata", MetadataToJs(js, event.metadata));
      break;
    }
    case Event::Kind::Stream:
      js.Set(o, "stream", StreamToJs(js, event.streams.at(0)));
      break;
    case Event::Kind::Metadata:
      js.Set(o, "metadata", MetadataToJs(js, event.metadata));
      break;
    case Event::Kind::End:
      js.Set(o, "reason", event.reason);
      break;
    case Event::Kind::Log:
      js.Set(o, "level", event.level);
      js.Set(o, "message", event.message);
      break;
    case Event::Kind::Packets:
    case Event::Kind::Stopped:
      break;
  }
  if (event.error) js.Set(o, "error", ErrorToJs(js, *event.error));
  return o;
}

}  // namespace

napi_value EventsToJs(napi_env env, std::vector<Event>& events) {
  JsWriter js(env);
  napi_value batch = js.Array(events.size());
  for (size_t i = 0; i < events.size() && js.ok(); i++) js.SetIndex(batch, static_cast<uint32_t>(i), EventToJs(js, events[i]));
  return js.ok() ? batch : nullptr;
}

}  // namespace rtmp_ingest
