// Entry point. Per-environment state lives in the Addon instance, so the
// addon loads in several worker_threads at once; nothing JS is static.
#include <napi.h>

#include "build_info.h"
#include "js_cache.h"
#include "server_object.h"

namespace rtmp_ingest {

class RtmpIngestAddon : public Napi::Addon<RtmpIngestAddon> {
 public:
  RtmpIngestAddon(Napi::Env env, Napi::Object exports) : js_cache_(env) {
    DefineAddon(exports, {
                             InstanceValue("Server", ServerObject::Define(env), napi_enumerable),
                             InstanceMethod<&RtmpIngestAddon::GetBuildInfo>("buildInfo", napi_enumerable),
                         });
  }

  JsCache& js_cache() { return js_cache_; }
  const std::shared_ptr<JsThreadActivity>& js_thread_activity() { return js_thread_activity_; }

 private:
  Napi::Value GetBuildInfo(const Napi::CallbackInfo& info) { return BuildInfo(info); }

  JsCache js_cache_;
  std::shared_ptr<JsThreadActivity> js_thread_activity_ = std::make_shared<JsThreadActivity>();
};

namespace {

// node-addon-api stores the addon instance as the environment's instance data.
RtmpIngestAddon* AddonOf(napi_env env) {
  void* data = nullptr;
  if (napi_get_instance_data(env, &data) != napi_ok) return nullptr;
  return static_cast<RtmpIngestAddon*>(data);
}

}  // namespace

JsCache* JsCache::Of(napi_env env) {
  RtmpIngestAddon* addon = AddonOf(env);
  return addon ? &addon->js_cache() : nullptr;
}

std::shared_ptr<JsThreadActivity> JsThreadActivity::Of(napi_env env) {
  RtmpIngestAddon* addon = AddonOf(env);
  return addon ? addon->js_thread_activity() : nullptr;
}

}  // namespace rtmp_ingest

using rtmp_ingest::RtmpIngestAddon;
NODE_API_ADDON(RtmpIngestAddon)
