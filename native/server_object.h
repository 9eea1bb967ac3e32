// The JS class Server (see lib/native.ts): owns one Server and the
// thread-safe function that carries its events to JS.
#pragma once

#include <napi.h>

#include <memory>

#include "events.h"
#include "server.h"

namespace rtmp_ingest {

class ServerObject : public Napi::ObjectWrap<ServerObject> {
 public:
  static Napi::Function Define(Napi::Env env);

  explicit ServerObject(const Napi::CallbackInfo& info);
  ~ServerObject() override;

 private:
  static void DeliverEvents(Napi::Env env, Napi::Function on_events, EventQueue* queue, void* unused);
  using EventsFunction = Napi::TypedThreadSafeFunction<EventQueue, void, &ServerObject::DeliverEvents>;
  static void OnEnvCleanup(void* self);

  Napi::Value Listen(const Napi::CallbackInfo& info);
  Napi::Value Authorize(const Napi::CallbackInfo& info);
  Napi::Value Release(const Napi::CallbackInfo& info);
  Napi::Value Disconnect(const Napi::CallbackInfo& info);
  Napi::Value DeliverPackets(const Napi::CallbackInfo& info);
  Napi::Value Undelivered(const Napi::CallbackInfo& info);
  Napi::Value Record(const Napi::CallbackInfo& info);
  Napi::Value Relay(const Napi::CallbackInfo& info);
  Napi::Value StopSink(const Napi::CallbackInfo& info);
  Napi::Value SinkStats(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Ref(const Napi::CallbackInfo& info);
  Napi::Value Unref(const Napi::CallbackInfo& info);

  // Stops the server, joins its threads, releases the thread-safe function.
  void Shutdown();

  napi_env env_;
  EventsFunction events_;
  EventQueue* queue_ = nullptr;  // owned by events_: freed in its finalizer
  std::unique_ptr<Server> server_;
  bool listening_ = false;
  bool closed_ = false;
  bool referenced_ = true;
  bool cleanup_hook_added_ = false;
};

}  // namespace rtmp_ingest
