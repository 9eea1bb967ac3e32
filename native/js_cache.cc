#include "js_cache.h"

#include <algorithm>

namespace rtmp_ingest {

namespace {

// Small enough that a retained small packet does not keep much alive, large
// enough for tens of batches: a batch takes 64 bytes of metadata per packet
// plus its packets under 512 bytes.
constexpr size_t kSlabBytes = 16 * 1024;

constexpr const char* kNames[JsCache::kNameCount] = {"type", "meta", "data", "bytes", "packets", "connection"};

}  // namespace

JsCache::JsCache(napi_env env) : env_(env) {
  // Node-API 8 references objects only: the strings live in an array.
  napi_value names;
  if (napi_create_array_with_length(env, kNameCount, &names) != napi_ok) return;
  for (uint32_t i = 0; i < kNameCount; i++) {
    napi_value s;
    // Made once instead of one string per key and batch (Node-API 8 has no
    // node_api_create_property_key_*).
    if (napi_create_string_latin1(env, kNames[i], NAPI_AUTO_LENGTH, &s) != napi_ok ||
        napi_set_element(env, names, i, s) != napi_ok)
      return;
  }
  napi_create_reference(env, names, 1, &names_);
}

JsCache::~JsCache() {
  if (names_) napi_delete_reference(env_, names_);
  if (slab_) napi_delete_reference(env_, slab_);
}

napi_value JsCache::Names(napi_env env) {
  napi_value names = nullptr;
  if (!names_ || napi_get_reference_value(env, names_, &names) != napi_ok) return nullptr;
  return names;
}

bool JsCache::Reserve(napi_env env, size_t bytes, napi_value* buffer, size_t* offset, uint8_t** at) {
  size_t start = (slab_used_ + 7) & ~size_t{7};
  napi_value current = nullptr;
  bool usable = slab_ && start + bytes <= slab_size_ && napi_get_reference_value(env, slab_, &current) == napi_ok &&
                current != nullptr;
  if (usable) {
    // JS code could have transferred the ArrayBuffer (lib/ marks slabs
    // untransferable; this is the backstop): its memory is not ours then.
    bool detached = true;
    usable = napi_is_detached_arraybuffer(env, current, &detached) == napi_ok && !detached;
  }
  if (!usable) {
    if (slab_) napi_delete_reference(env, slab_);
    slab_ = nullptr;
    slab_data_ = nullptr;
    slab_size_ = slab_used_ = 0;
    size_t size = std::max(kSlabBytes, bytes);
    void* data = nullptr;
    if (napi_create_arraybuffer(env, size, &data, &current) != napi_ok) return false;
    if (napi_create_reference(env, current, 1, &slab_) != napi_ok) {
      slab_ = nullptr;
      return false;
    }
    slab_data_ = static_cast<uint8_t*>(data);
    slab_size_ = size;
    start = 0;
  }
  slab_used_ = start + bytes;
  *buffer = current;
  *offset = start;
  *at = slab_data_ + start;
  return true;
}

}  // namespace rtmp_ingest
