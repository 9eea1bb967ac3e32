#pragma once

#include <napi.h>

namespace rtmp_ingest {

// { addonVersion, ffmpegVersion, libavformatVersion, configuration, license }
Napi::Value BuildInfo(const Napi::CallbackInfo& info);

}  // namespace rtmp_ingest
