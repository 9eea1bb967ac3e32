// Entry point. Per-environment state lives in the Addon instance, so the
// addon loads in several worker_threads at once; nothing JS is static.
#include <napi.h>

#include "build_info.h"
#include "listener.h"

namespace rtmp_ingest {

class RtmpIngestAddon : public Napi::Addon<RtmpIngestAddon> {
 public:
  RtmpIngestAddon(Napi::Env env, Napi::Object exports) {
    DefineAddon(exports, {
                             InstanceValue("Listener", Listener::Define(env), napi_enumerable),
                             InstanceMethod<&RtmpIngestAddon::GetBuildInfo>("buildInfo", napi_enumerable),
                         });
  }

 private:
  Napi::Value GetBuildInfo(const Napi::CallbackInfo& info) { return BuildInfo(info); }
};

}  // namespace rtmp_ingest

using rtmp_ingest::RtmpIngestAddon;
NODE_API_ADDON(RtmpIngestAddon)
