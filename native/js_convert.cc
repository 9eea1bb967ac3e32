#include "js_convert.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "js_cache.h"

namespace rtmp_ingest {

namespace {

constexpr size_t kMetaFields = 8;   // PACKET_META_FIELDS in lib/native.ts
constexpr size_t kGroupFields = 3;  // PACKET_GROUP_FIELDS in lib/native.ts

// The JS Buffer over a packet holds the packet's AVBufferRef (the hint)
// and drops it when collected. No napi_adjust_external_memory: V8 already
// counts every ArrayBuffer's backing store, external ones included
// (ArrayBufferSweeper), so reporting it again doubled the pressure: 4 full
// GCs in a 152 MB run, none without it.
void FreeExternalPacket(napi_env, void*, void* hint) {
  auto* ref = static_cast<AVBufferRef*>(hint);
  av_buffer_unref(&ref);
}

// Builds JS values; after the first failed call every further call is a
// no-op returning nullptr, and ok() is false.
class JsWriter {
 public:
  JsWriter(napi_env env, JsCache* cache) : env_(env), cache_(cache) {
    names_ = cache ? cache->Names(env) : nullptr;
    ok_ = names_ != nullptr;
  }
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
  // Slab memory for one batch (see JsCache::Reserve).
  bool Reserve(size_t bytes, napi_value* slab, size_t* offset, uint8_t** at) {
    return ok_ && Check(cache_->Reserve(env_, bytes, slab, offset, at) ? napi_ok : napi_generic_failure);
  }
  napi_value Float64View(napi_value buffer, size_t offset, size_t length) {
    napi_value v = nullptr;
    if (ok_) Check(napi_create_typedarray(env_, napi_float64_array, length, buffer, offset, &v));
    return v;
  }
  void Set(napi_value object, JsCache::Name key, napi_value value) {
    napi_value k = Name(key);
    if (ok_) Check(napi_set_property(env_, object, k, value));
  }
  void Set(napi_value object, JsCache::Name key, double value) { Set(object, key, Number(value)); }
  napi_value Name(JsCache::Name name) {
    napi_value v = nullptr;
    if (ok_) Check(napi_get_element(env_, names_, name, &v));
    return v;
  }
  void Set(napi_value object, const char* key, napi_value value) {
    if (ok_) Check(napi_set_named_property(env_, object, key, value));
  }
  void Set(napi_value object, const char* key, const std::string& value) { Set(object, key, String(value)); }
  void Set(napi_value object, const char* key, double value) { Set(object, key, Number(value)); }
  void SetIndex(napi_value array, uint32_t index, napi_value value) {
    if (ok_) Check(napi_set_element(env_, array, index, value));
  }

  // A Buffer over the packet's memory (zero copy), or a copy where the
  // runtime forbids external buffers (Electron's memory cage).
  napi_value ExternalPacketData(PacketPtr& packet) {
    if (!ok_) return nullptr;
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
  JsCache* cache_;
  napi_value names_;  // JsCache::Names
  bool ok_ = true;
};

// Small packets (and any without a refcounted buffer) are copied into the
// batch's slab: cheaper than an external Buffer and its finalizer.
bool CopiedToSlab(const AVPacket& packet) { return packet.size < kCopyBelowBytes || !packet.buf; }

double Timestamp(int64_t value) {
  return value == AV_NOPTS_VALUE ? std::numeric_limits<double>::quiet_NaN() : static_cast<double>(value);
}

// One slab region for `n` packet batches: the metadata rows of all of them
// in order, then (with `groups_out`) a row of {connection, packets, bytes}
// per batch, then the copied packets. Zero-copy packets go into `data`, in
// order.
bool PacketParts(JsWriter& js, Event* batches, size_t n, napi_value* meta_out, napi_value* data_out,
                 napi_value* groups_out) {
  size_t count = 0, copied_bytes = 0, external = 0;
  for (size_t b = 0; b < n; b++) {
    count += batches[b].packets.size();
    for (const PacketPtr& packet : batches[b].packets) {
      if (CopiedToSlab(*packet)) copied_bytes += packet->size;
      else external++;
    }
  }
  size_t meta_bytes = count * kMetaFields * sizeof(double);
  size_t group_bytes = groups_out ? n * kGroupFields * sizeof(double) : 0;
  napi_value slab = nullptr;
  size_t offset = 0;
  uint8_t* at = nullptr;
  if (!js.Reserve(meta_bytes + group_bytes + copied_bytes, &slab, &offset, &at)) return false;
  napi_value meta = js.Float64View(slab, offset, count * kMetaFields);
  napi_value data = js.Array(external);
  auto* row = reinterpret_cast<double*>(at);  // Reserve aligns to 8 bytes
  auto* group = reinterpret_cast<double*>(at + meta_bytes);
  uint8_t* copy_to = at + meta_bytes + group_bytes;
  size_t copy_offset = offset + meta_bytes + group_bytes;
  uint32_t next_external = 0;
  for (size_t b = 0; b < n && js.ok(); b++) {
    Event& event = batches[b];
    if (groups_out) {
      group[0] = static_cast<double>(event.connection);
      group[1] = static_cast<double>(event.packets.size());
      group[2] = static_cast<double>(event.bytes);
      group += kGroupFields;
    }
    for (size_t i = 0; i < event.packets.size() && js.ok(); i++, row += kMetaFields) {
      PacketPtr& packet = event.packets[i];
      row[0] = packet->stream_index;
      row[1] = Timestamp(packet->pts);
      row[2] = Timestamp(packet->dts);
      row[3] = static_cast<double>(packet->duration);
      row[4] = ((packet->flags & AV_PKT_FLAG_KEY) ? 1 : 0) | ((packet->flags & AV_PKT_FLAG_CORRUPT) ? 2 : 0);
      row[5] = static_cast<double>(event.read_at_us[i]);
      row[6] = packet->size;
      if (CopiedToSlab(*packet)) {
        if (packet->size > 0) std::memcpy(copy_to, packet->data, packet->size);
        row[7] = static_cast<double>(copy_offset);
        copy_to += packet->size;
        copy_offset += packet->size;
      } else {
        row[7] = -1;
        js.SetIndex(data, next_external++, js.ExternalPacketData(packet));
      }
      packet.reset();
    }
  }
  *meta_out = meta;
  *data_out = data;
  if (groups_out) *groups_out = js.Float64View(slab, offset + meta_bytes, n * kGroupFields);
  return js.ok();
}

napi_value PacketsToJs(JsWriter& js, Event& event) {
  napi_value meta = nullptr, data = nullptr;
  if (!PacketParts(js, &event, 1, &meta, &data, nullptr)) return nullptr;
  napi_value out = js.Object();
  js.Set(out, JsCache::kType, js.Name(JsCache::kPackets));
  js.Set(out, JsCache::kConnection, static_cast<double>(event.connection));
  js.Set(out, JsCache::kMeta, meta);
  js.Set(out, JsCache::kData, data);
  js.Set(out, JsCache::kBytes, static_cast<double>(event.bytes));
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

napi_value StatsToJs(JsWriter& js, const SinkStats& stats) {
  napi_value o = js.Object();
  js.Set(o, "packets", static_cast<double>(stats.packets));
  js.Set(o, "bytes", static_cast<double>(stats.bytes));
  js.Set(o, "segments", static_cast<double>(stats.segments));
  js.Set(o, "droppedPackets", static_cast<double>(stats.dropped_packets));
  js.Set(o, "timestampFixups", static_cast<double>(stats.timestamp_fixups));
  js.Set(o, "reconnects", static_cast<double>(stats.reconnects));
  return o;
}

napi_value CountsToJs(JsWriter& js, const PacketCounts& counts) {
  napi_value o = js.Object();
  js.Set(o, "packets", static_cast<double>(counts.packets));
  js.Set(o, "bytes", static_cast<double>(counts.bytes));
  js.Set(o, "keyframes", static_cast<double>(counts.keyframes));
  js.Set(o, "corrupt", static_cast<double>(counts.corrupt));
  js.Set(o, "lastReadAtUs", static_cast<double>(counts.last_read_us));
  napi_value streams = js.Array(counts.streams.size());
  for (size_t i = 0; i < counts.streams.size(); i++) {
    napi_value s = js.Object();
    js.Set(s, "packets", static_cast<double>(counts.streams[i].packets));
    js.Set(s, "bytes", static_cast<double>(counts.streams[i].bytes));
    js.Set(s, "keyframes", static_cast<double>(counts.streams[i].keyframes));
    js.SetIndex(streams, static_cast<uint32_t>(i), s);
  }
  js.Set(o, "streams", streams);
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
    case Event::Kind::Closed: return "closed";
    case Event::Kind::Log: return "log";
    case Event::Kind::Stopped: return "stopped";
    case Event::Kind::Sink: return "sink";
  }
  return "unknown";
}

napi_value EventToJs(JsWriter& js, Event& event) {
  if (event.kind == Event::Kind::Packets) return PacketsToJs(js, event);
  napi_value o = js.Object();
  js.Set(o, "type", std::string(KindName(event.kind)));
  js.Set(o, JsCache::kConnection, static_cast<double>(event.connection));
  switch (event.kind) {
    case Event::Kind::Connection:
      js.Set(o, "remoteAddress", event.remote_address);
      js.Set(o, "remotePort", event.remote_port);
      break;
    case Event::Kind::Authorize:
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
      if (event.undelivered && event.undelivered->packets > 0) js.Set(o, "undelivered", CountsToJs(js, *event.undelivered));
      break;
    case Event::Kind::Log:
      js.Set(o, "level", event.level);
      js.Set(o, "message", event.message);
      break;
    case Event::Kind::Sink:
      js.Set(o, "sink", static_cast<double>(event.sink));
      js.Set(o, "what", event.reason);
      if (!event.path.empty()) js.Set(o, "path", event.path);
      js.Set(o, "durationMs", static_cast<double>(event.duration_ms));
      js.Set(o, "bytes", static_cast<double>(event.bytes));
      js.Set(o, "count", static_cast<double>(event.count));
      if (event.stats) js.Set(o, "stats", StatsToJs(js, *event.stats));
      break;
    case Event::Kind::Packets:
    case Event::Kind::Closed:
    case Event::Kind::Stopped:
      break;
  }
  if (event.error) js.Set(o, "error", ErrorToJs(js, *event.error));
  return o;
}

}  // namespace

napi_value EventsToJs(napi_env env, std::vector<Event>& events) {
  JsWriter js(env, JsCache::Of(env));
  napi_value batch = js.Array(events.size());
  for (size_t i = 0; i < events.size() && js.ok(); i++) js.SetIndex(batch, static_cast<uint32_t>(i), EventToJs(js, events[i]));
  return js.ok() ? batch : nullptr;
}

napi_value PacketCountsToJs(napi_env env, const PacketCounts& counts) {
  JsWriter js(env, JsCache::Of(env));
  napi_value o = CountsToJs(js, counts);
  return js.ok() ? o : nullptr;
}

napi_value SinkStatsToJs(napi_env env, const SinkStats& stats) {
  JsWriter js(env, JsCache::Of(env));
  napi_value o = StatsToJs(js, stats);
  return js.ok() ? o : nullptr;
}

bool PacketBatchesToJs(napi_env env, std::vector<Event>& batches, napi_value* meta, napi_value* data, napi_value* groups) {
  JsWriter js(env, JsCache::Of(env));
  return js.ok() && PacketParts(js, batches.data(), batches.size(), meta, data, groups);
}

}  // namespace rtmp_ingest
