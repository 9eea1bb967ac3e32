#include "build_info.h"

extern "C" {
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
}

namespace rtmp_ingest {

Napi::Value BuildInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  unsigned v = avformat_version();
  Napi::Object o = Napi::Object::New(env);
  o.Set("addonVersion", RTMP_INGEST_VERSION);
  o.Set("ffmpegVersion", av_version_info());
  o.Set("libavformatVersion", std::to_string(AV_VERSION_MAJOR(v)) + "." + std::to_string(AV_VERSION_MINOR(v)) + "." +
                                  std::to_string(AV_VERSION_MICRO(v)));
  o.Set("configuration", avformat_configuration());
  o.Set("license", avformat_license());
  return o;
}

}  // namespace rtmp_ingest
