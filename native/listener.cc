#include "listener.h"

#include <string>
#include <utility>
#include <vector>

#include "js_convert.h"

namespace rtmp_ingest {

namespace {

void ThrowCoded(Napi::Env env, const ErrorInfo& error) {
  Napi::Error e = Napi::Error::New(env, error.message);
  e.Set("code", Napi::String::New(env, error.code));
  if (error.averror != 0) e.Set("averror", Napi::Number::New(env, error.averror));
  e.ThrowAsJavaScriptException();
}

int64_t IntOption(const Napi::Object& o, const char* key, int64_t fallback) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().Int64Value() : fallback;
}

std::string StringOption(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
}

}  // namespace

Napi::Function Listener::Define(Napi::Env env) {
  return DefineClass(env, "Listener",
                     {
                         InstanceMethod<&Listener::Listen>("listen"),
                         InstanceMethod<&Listener::Authorize>("authorize"),
                         InstanceMethod<&Listener::Release>("release"),
                         InstanceMethod<&Listener::Disconnect>("disconnect"),
                         InstanceMethod<&Listener::Close>("close"),
                         InstanceMethod<&Listener::Ref>("ref"),
                         InstanceMethod<&Listener::Unref>("unref"),
                     });
}

Listener::Listener(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Listener>(info), env_(info.Env()) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsFunction()) {
    Napi::TypeError::New(env, "Listener(options, onEvents)").ThrowAsJavaScriptException();
    return;
  }
  Napi::Object o = info[0].As<Napi::Object>();
  ReaderOptions options;
  options.host = StringOption(o, "host");
  options.port = static_cast<int>(IntOption(o, "port", 1935));
  options.app = StringOption(o, "app");
  options.stream_key = StringOption(o, "streamKey");
  options.keep_alive = o.Get("keepAlive").ToBoolean().Value();
  options.high_water_mark_bytes = IntOption(o, "highWaterMarkBytes", options.high_water_mark_bytes);
  options.handshake_timeout_ms = IntOption(o, "handshakeTimeoutMs", options.handshake_timeout_ms);
  options.idle_timeout_ms = IntOption(o, "idleTimeoutMs", options.idle_timeout_ms);
  options.probe_ms = IntOption(o, "probeMs", options.probe_ms);
  options.log_level = static_cast<int>(IntOption(o, "logLevel", options.log_level));

  auto queue = std::make_unique<EventQueue>();
  events_ = EventsFunction::New(
      env, info[1].As<Napi::Function>(), "rtmp-ingest", 0 /* unbounded: the reader never blocks on JS */, 1,
      queue.get(), [](Napi::Env, void*, EventQueue* q) { delete q; });
  queue_ = queue.release();
  // Copy the handle: the reader thread schedules through it while it runs,
  // and it is joined before Release().
  EventsFunction events = events_;
  auto call_js = [events]() mutable { events.NonBlockingCall(); };
  doorbell_ = std::make_unique<Doorbell>(env, call_js);
  if (doorbell_->ok()) {
    // The reader rings; the JS thread, woken on the reader's CPU, makes the
    // call. The doorbell outlives the reader (see Shutdown).
    Doorbell* doorbell = doorbell_.get();
    queue_->SetSchedule([doorbell]() { doorbell->Ring(); });
  } else {
    doorbell_.reset();
    queue_->SetSchedule(call_js);  // the reader makes the call itself
  }
  queue_->SetActivity(JsThreadActivity::Of(env));
  // Idle until listen(): only a listening ingest keeps the process alive.
  events_.Unref(env);
  reader_ = std::make_unique<Reader>(std::move(options), queue_);

  napi_add_env_cleanup_hook(env_, &Listener::OnEnvCleanup, this);
  cleanup_hook_added_ = true;
}

Listener::~Listener() { Shutdown(); }

void Listener::OnEnvCleanup(void* self) {
  auto* listener = static_cast<Listener*>(self);
  listener->cleanup_hook_added_ = false;  // the hook runs once and is gone
  listener->Shutdown();
}

void Listener::DeliverEvents(Napi::Env env, Napi::Function on_events, EventQueue* queue, void*) {
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
    if (events.size() == 1 && events[0].kind == Event::Kind::Packets) {
      // Most deliveries are packets only: onEvents(null, meta, data, bytes),
      // with no event objects to build (each property set is a slow path).
      napi_value args[4] = {nullptr, nullptr, nullptr, nullptr};
      if (napi_get_null(env, &args[0]) == napi_ok && PacketBatchToJs(env, events[0], &args[1], &args[2]) &&
          napi_create_double(env, static_cast<double>(events[0].bytes), &args[3]) == napi_ok)
        napi_call_function(env, undefined, on_events, 4, args, nullptr);
    } else if (napi_value batch = EventsToJs(env, events)) {
      napi_call_function(env, undefined, on_events, 1, &batch, nullptr);
    }
  }
  napi_close_handle_scope(env, scope);
}

Napi::Value Listener::Listen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_) {
    ThrowCoded(env, {"ERR_INGEST_CLOSED", "the listener is closed", 0});
    return env.Undefined();
  }
  if (listening_) {
    ThrowCoded(env, {"ERR_INGEST_LISTENING", "the listener is already listening", 0});
    return env.Undefined();
  }
  ErrorInfo error;
  std::optional<BoundAddress> bound = reader_->Listen(&error);
  if (!bound) {
    ThrowCoded(env, error);
    return env.Undefined();
  }
  listening_ = true;
  reader_->Start();
  if (referenced_) events_.Ref(env);
  Napi::Object address = Napi::Object::New(env);
  address.Set("host", bound->host);
  address.Set("port", bound->port);
  return address;
}

Napi::Value Listener::Authorize(const Napi::CallbackInfo& info) {
  if (reader_ && info.Length() >= 2 && info[0].IsNumber())
    reader_->Authorize(static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value()), info[1].ToBoolean().Value());
  return info.Env().Undefined();
}

Napi::Value Listener::Release(const Napi::CallbackInfo& info) {
  if (reader_ && info.Length() >= 1 && info[0].IsNumber()) reader_->Release(info[0].As<Napi::Number>().Int64Value());
  return info.Env().Undefined();
}

Napi::Value Listener::Disconnect(const Napi::CallbackInfo& info) {
  if (reader_) reader_->Disconnect();
  return info.Env().Undefined();
}

Napi::Value Listener::Close(const Napi::CallbackInfo& info) {
  Shutdown();
  return info.Env().Undefined();
}

Napi::Value Listener::Ref(const Napi::CallbackInfo& info) {
  referenced_ = true;
  if (listening_ && !closed_) events_.Ref(info.Env());
  return info.Env().Undefined();
}

Napi::Value Listener::Unref(const Napi::CallbackInfo& info) {
  referenced_ = false;
  if (!closed_) events_.Unref(info.Env());
  return info.Env().Undefined();
}

void Listener::Shutdown() {
  if (closed_) return;
  closed_ = true;
  if (queue_) queue_->Close();  // from here on no event reaches JS
  if (reader_) reader_->Stop();  // joins: the thread never touches the queue after this
  reader_.reset();
  doorbell_.reset();  // after the join: nothing rings it any more
  if (queue_) {
    events_.Release();
    queue_ = nullptr;
  }
  if (cleanup_hook_added_) {
    napi_remove_env_cleanup_hook(env_, &Listener::OnEnvCleanup, this);
    cleanup_hook_added_ = false;
  }
}

}  // namespace rtmp_ingest
