#include "build_info.h"

extern "C" {
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
}
#include <mbedtls/version.h>

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
  // The TLS library FFmpeg's tls protocol (rtmps://) runs on, as linked
  // (mbedtls_version_get_string writes at most 9 bytes).
  char mbedtls_version[16] = {};
  mbedtls_version_get_string(mbedtls_version);
  o.Set("tls", std::string("mbedtls ") + mbedtls_version);
  return o;
}

}  // namespace rtmp_ingest
