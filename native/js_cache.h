// Per-environment JS values that event conversion reuses instead of making
// them again for every batch: property names, and a slab (one ArrayBuffer)
// that packet batches carve their metadata and small packets out of.
//
// Plain Node-API, like js_convert (a worker may be terminating).
#pragma once

#include <node_api.h>

#include <cstddef>
#include <cstdint>

namespace rtmp_ingest {

class JsCache {
 public:
  enum Name { kType, kMeta, kData, kBytes, kPackets, kConnection, kNameCount };

  explicit JsCache(napi_env env);
  ~JsCache();
  JsCache(const JsCache&) = delete;
  JsCache& operator=(const JsCache&) = delete;

  // The cached strings as an array indexed by Name, or nullptr.
  napi_value Names(napi_env env);

  // `bytes` of fresh slab memory at an 8-byte aligned offset of *buffer:
  // written here, then read by JS through views. Reserved bytes are never
  // handed out again, so earlier views stay valid; a full (or detached)
  // slab is dropped and a new one made. False when JS cannot run.
  bool Reserve(napi_env env, size_t bytes, napi_value* buffer, size_t* offset, uint8_t** at);

  // The JsCache of this environment (owned by the addon instance).
  static JsCache* Of(napi_env env);

 private:
  napi_env env_;
  napi_ref names_ = nullptr;  // an array of the kNames strings
  napi_ref slab_ = nullptr;
  uint8_t* slab_data_ = nullptr;
  size_t slab_size_ = 0;
  size_t slab_used_ = 0;
};

}  // namespace rtmp_ingest
