#include "server_object.h"

#include <string>
#include <utility>
#include <vector>

#include "js_convert.h"
#include "recorder.h"
#include "relay.h"

namespace rtmp_ingest {

namespace {

void ThrowCoded(Napi::Env env, const ErrorInfo& error) {
  Napi::Error e = Napi::Error::New(env, error.message);
  e.Set("code", Napi::String::New(env, error.code));
  if (error.averror != 0) e.Set("averror", Napi::Number::New(env, error.averror));
  e.ThrowAsJavaScriptException();
}

// Every option is required: lib/options.ts defines the defaults.
bool ReadOptions(const Napi::Object& o, ServerOptions* options, std::string* missing) {
  auto number = [&](const char* key, int64_t* to) {
    Napi::Value v = o.Get(key);
    if (!v.IsNumber()) {
      if (missing->empty()) *missing = key;
      return;
    }
    *to = v.As<Napi::Number>().Int64Value();
  };
  auto flag = [&](const char* key, bool* to) {
    Napi::Value v = o.Get(key);
    if (!v.IsBoolean()) {
      if (missing->empty()) *missing = key;
      return;
    }
    *to = v.As<Napi::Boolean>().Value();
  };
  Napi::Value host = o.Get("host");
  if (host.IsString()) options->host = host.As<Napi::String>().Utf8Value();
  else *missing = "host";
  int64_t port = 0, log_level = 0;
  number("port", &port);
  flag("reusePort", &options->reuse_port);
  flag("proxyProtocol", &options->proxy_protocol);
  number("maxConnections", &options->max_connections);
  number("maxConnectionsPerAddress", &options->max_connections_per_address);
  number("highWaterMarkBytes", &options->high_water_mark_bytes);
  number("handshakeTimeoutMs", &options->handshake_timeout_ms);
  number("idleTimeoutMs", &options->idle_timeout_ms);
  number("probeMs", &options->probe_ms);
  number("logLevel", &log_level);
  options->port = static_cast<int>(port);
  options->log_level = static_cast<int>(log_level);
  return missing->empty();
}

uint64_t ConnectionId(const Napi::Value& v) { return static_cast<uint64_t>(v.As<Napi::Number>().Int64Value()); }

// A required field of a sink's options (lib/native.ts defines them all).
bool ReadString(const Napi::Object& o, const char* key, std::string* to) {
  Napi::Value v = o.Get(key);
  if (!v.IsString()) return false;
  *to = v.As<Napi::String>().Utf8Value();
  return true;
}

bool ReadInt(const Napi::Object& o, const char* key, int64_t* to) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) return false;
  *to = v.As<Napi::Number>().Int64Value();
  return true;
}

}  // namespace

Napi::Function ServerObject::Define(Napi::Env env) {
  return DefineClass(env, "Server",
                     {
                         InstanceMethod<&ServerObject::Listen>("listen"),
                         InstanceMethod<&ServerObject::Authorize>("authorize"),
                         InstanceMethod<&ServerObject::Release>("release"),
                         InstanceMethod<&ServerObject::Disconnect>("disconnect"),
                         InstanceMethod<&ServerObject::DeliverPackets>("deliverPackets"),
                         InstanceMethod<&ServerObject::Undelivered>("undelivered"),
                         InstanceMethod<&ServerObject::Record>("record"),
                         InstanceMethod<&ServerObject::Relay>("relay"),
                         InstanceMethod<&ServerObject::StopSink>("stopSink"),
                         InstanceMethod<&ServerObject::SinkStats>("sinkStats"),
                         InstanceMethod<&ServerObject::Close>("close"),
                         InstanceMethod<&ServerObject::Ref>("ref"),
                         InstanceMethod<&ServerObject::Unref>("unref"),
                     });
}

ServerObject::ServerObject(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ServerObject>(info), env_(info.Env()) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsFunction()) {
    Napi::TypeError::New(env, "Server(options, onEvents)").ThrowAsJavaScriptException();
    return;
  }
  ServerOptions options;
  std::string missing;
  if (!ReadOptions(info[0].As<Napi::Object>(), &options, &missing)) {
    Napi::TypeError::New(env, "Server: options." + missing + " is missing or of the wrong type").ThrowAsJavaScriptException();
    return;
  }

  auto queue = std::make_unique<EventQueue>();
  events_ = EventsFunction::New(
      env, info[1].As<Napi::Function>(), "rtmp-ingest", 0 /* unbounded: no thread ever blocks on JS */, 1,
      queue.get(), [](Napi::Env, void*, EventQueue* q) { delete q; });
  queue_ = queue.release();
  // Copy the handle: the server's threads call it while they run, and they
  // are joined before Release(). This is the one path into JS.
  EventsFunction events = events_;
  queue_->SetSchedule([events]() mutable { events.NonBlockingCall(); });
  queue_->SetActivity(JsThreadActivity::Of(env));
  // Idle until listen(): only a listening ingest keeps the process alive.
  events_.Unref(env);
  server_ = std::make_unique<Server>(std::move(options), queue_);

  napi_add_env_cleanup_hook(env_, &ServerObject::OnEnvCleanup, this);
  cleanup_hook_added_ = true;
}

ServerObject::~ServerObject() { Shutdown(); }

void ServerObject::OnEnvCleanup(void* self) {
  auto* server = static_cast<ServerObject*>(self);
  server->cleanup_hook_added_ = false;  // the hook runs once and is gone
  server->Shutdown();
}

void ServerObject::DeliverEvents(Napi::Env env, Napi::Function on_events, EventQueue* queue, void*) {
  // env is null when the function is being torn down: nothing may reach JS,
  // and the queue's events are freed with it in the finalizer.
  if (!env || !queue || queue->closed()) return;
  std::vector<Event> events = queue->TakeAll();
  if (events.empty()) return;
  // Plain Node-API from here (see js_convert.h): a worker may be terminating.
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  // lib/ never throws back into here: under Node-API 8, Node would only
  // warn about an exception left pending by a thread-safe call. The
  // dispatcher rethrows handler errors from process.nextTick instead.
  napi_value undefined;
  if (napi_get_undefined(env, &undefined) == napi_ok) {
    bool packets_only = true;
    for (const Event& event : events) packets_only = packets_only && event.kind == Event::Kind::Packets;
    if (packets_only) {
      // Most deliveries are packets only, of one connection or of many:
      // onEvents(null, meta, data, groups), with no event objects to build
      // (each property set is a slow path).
      napi_value args[4] = {nullptr, nullptr, nullptr, nullptr};
      if (napi_get_null(env, &args[0]) == napi_ok && PacketBatchesToJs(env, events, &args[1], &args[2], &args[3]))
        napi_call_function(env, undefined, on_events, 4, args, nullptr);
    } else if (napi_value batch = EventsToJs(env, events)) {
      napi_call_function(env, undefined, on_events, 1, &batch, nullptr);
    }
  }
  napi_close_handle_scope(env, scope);
}

Napi::Value ServerObject::Listen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_) {
    ThrowCoded(env, {"ERR_INGEST_CLOSED", "the server is closed", 0});
    return env.Undefined();
  }
  if (listening_) {
    ThrowCoded(env, {"ERR_INGEST_LISTENING", "the server is already listening", 0});
    return env.Undefined();
  }
  ErrorInfo error;
  std::optional<BoundAddress> bound = server_->Listen(&error);
  if (!bound) {
    ThrowCoded(env, error);
    return env.Undefined();
  }
  listening_ = true;
  server_->Start();
  if (referenced_) events_.Ref(env);
  Napi::Object address = Napi::Object::New(env);
  address.Set("host", bound->host);
  address.Set("port", bound->port);
  return address;
}

Napi::Value ServerObject::Authorize(const Napi::CallbackInfo& info) {
  if (server_ && info.Length() >= 2 && info[0].IsNumber()) server_->Authorize(ConnectionId(info[0]), info[1].ToBoolean().Value());
  return info.Env().Undefined();
}

Napi::Value ServerObject::Release(const Napi::CallbackInfo& info) {
  if (server_ && info.Length() >= 2 && info[0].IsNumber() && info[1].IsNumber())
    server_->Release(ConnectionId(info[0]), info[1].As<Napi::Number>().Int64Value());
  return info.Env().Undefined();
}

Napi::Value ServerObject::Disconnect(const Napi::CallbackInfo& info) {
  if (server_ && info.Length() >= 1 && info[0].IsNumber()) server_->Disconnect(ConnectionId(info[0]));
  return info.Env().Undefined();
}

Napi::Value ServerObject::DeliverPackets(const Napi::CallbackInfo& info) {
  if (server_ && info.Length() >= 2 && info[0].IsNumber())
    server_->DeliverPackets(ConnectionId(info[0]), info[1].ToBoolean().Value());
  return info.Env().Undefined();
}

Napi::Value ServerObject::Undelivered(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!server_ || info.Length() < 1 || !info[0].IsNumber()) return env.Undefined();
  std::optional<PacketCounts> counts = server_->Undelivered(ConnectionId(info[0]));
  if (!counts) return env.Undefined();
  return Napi::Value(env, PacketCountsToJs(env, *counts));
}

// record(connection, { path, format, segmentMs, maxBufferMs }): the sink's
// id, or 0 when the connection is gone.
Napi::Value ServerObject::Record(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RecorderOptions options;
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsObject() ||
      !ReadString(info[1].As<Napi::Object>(), "path", &options.path_pattern) ||
      !ReadString(info[1].As<Napi::Object>(), "format", &options.format) ||
      !ReadInt(info[1].As<Napi::Object>(), "segmentMs", &options.segment_ms) ||
      !ReadInt(info[1].As<Napi::Object>(), "maxBufferMs", &options.max_buffer_ms)) {
    Napi::TypeError::New(env, "record(connection, { path, format, segmentMs, maxBufferMs })").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!server_) return Napi::Number::New(env, 0);
  uint64_t id = server_->AddSink(ConnectionId(info[0]), [&](uint64_t sink, const SinkContext& context) {
    return std::make_shared<Recorder>(sink, ConnectionId(info[0]), context, options);
  });
  return Napi::Number::New(env, static_cast<double>(id));
}

// relay(connection, { url, maxBufferMs, ioOptions: {name: value} }): the
// sink's id, or 0 when the connection is gone.
Napi::Value ServerObject::Relay(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RelayOptions options;
  Napi::Value io;
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsObject() ||
      !ReadString(info[1].As<Napi::Object>(), "url", &options.url) ||
      !ReadInt(info[1].As<Napi::Object>(), "maxBufferMs", &options.max_buffer_ms) ||
      !(io = info[1].As<Napi::Object>().Get("ioOptions")).IsObject()) {
    Napi::TypeError::New(env, "relay(connection, { url, maxBufferMs, ioOptions })").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object io_object = io.As<Napi::Object>();
  Napi::Array keys = io_object.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); i++) {
    std::string key = keys.Get(i).ToString().Utf8Value();
    options.io_options.emplace_back(key, io_object.Get(key).ToString().Utf8Value());
  }
  if (!server_) return Napi::Number::New(env, 0);
  uint64_t id = server_->AddSink(ConnectionId(info[0]), [&](uint64_t sink, const SinkContext& context) {
    return std::make_shared<rtmp_ingest::Relay>(sink, ConnectionId(info[0]), context, options);
  });
  return Napi::Number::New(env, static_cast<double>(id));
}

Napi::Value ServerObject::StopSink(const Napi::CallbackInfo& info) {
  if (server_ && info.Length() >= 1 && info[0].IsNumber()) server_->StopSink(ConnectionId(info[0]));
  return info.Env().Undefined();
}

Napi::Value ServerObject::SinkStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!server_ || info.Length() < 1 || !info[0].IsNumber()) return env.Undefined();
  std::optional<rtmp_ingest::SinkStats> stats = server_->StatsOfSink(ConnectionId(info[0]));
  if (!stats) return env.Undefined();
  return Napi::Value(env, SinkStatsToJs(env, *stats));
}

Napi::Value ServerObject::Close(const Napi::CallbackInfo& info) {
  Shutdown();
  return info.Env().Undefined();
}

Napi::Value ServerObject::Ref(const Napi::CallbackInfo& info) {
  referenced_ = true;
  if (listening_ && !closed_) events_.Ref(info.Env());
  return info.Env().Undefined();
}

Napi::Value ServerObject::Unref(const Napi::CallbackInfo& info) {
  referenced_ = false;
  if (!closed_) events_.Unref(info.Env());
  return info.Env().Undefined();
}

void ServerObject::Shutdown() {
  if (closed_) return;
  closed_ = true;
  if (queue_) queue_->Close();  // from here on no event reaches JS
  if (server_) server_->Stop();  // joins: no thread touches the queue after this
  server_.reset();
  if (queue_) {
    events_.Release();
    queue_ = nullptr;
  }
  if (cleanup_hook_added_) {
    napi_remove_env_cleanup_hook(env_, &ServerObject::OnEnvCleanup, this);
    cleanup_hook_added_ = false;
  }
}

}  // namespace rtmp_ingest
