#include "packet_pool.h"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <utility>
#include <vector>

extern "C" {
#include <libavcodec/defs.h>
}

namespace rtmp_ingest {

namespace {

constexpr size_t kPage = 4096;
constexpr size_t kHugePage = size_t{2} << 20;
constexpr size_t kFirstRegion = size_t{64} << 10;
// Buffers above this get a mapping of their own instead of a region's tail.
constexpr size_t kOwnMappingAbove = kHugePage / 4;
// av_malloc's alignment with AVX-512 enabled: FFmpeg's SIMD code may assume it.
constexpr size_t kAlign = 64;

// `bytes` (a multiple of the page size) of fresh memory aligned to `align`
// (a power of two, at least the page size), or nullptr.
void* MapAligned(size_t bytes, size_t align) {
  size_t span = align > kPage ? bytes + align : bytes;  // mmap aligns to pages itself
  void* p = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  auto start = reinterpret_cast<uintptr_t>(p);
  uintptr_t aligned = (start + align - 1) & ~(uintptr_t{align} - 1);
  if (aligned > start) munmap(p, aligned - start);
  if (size_t tail = start + span - (aligned + bytes); tail > 0) munmap(reinterpret_cast<void*>(aligned + bytes), tail);
  void* region = reinterpret_cast<void*>(aligned);
  // Huge pages where the system allows them (THP "madvise" or "always"),
  // then the whole range faulted in at once (Linux 5.14+). Both advisory:
  // without them the pages fault in one at a time as before.
#ifdef MADV_HUGEPAGE
  madvise(region, bytes, MADV_HUGEPAGE);
#endif
#ifdef MADV_POPULATE_WRITE
  madvise(region, bytes, MADV_POPULATE_WRITE);
#endif
  return region;
}

void KeepBuffer(void*, uint8_t*) {}  // the arena owns the memory

}  // namespace

class PacketPool::Arena {
 public:
  // One reference for the PacketPool, one per size class's pool.
  void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  // Called under one size class's AVBufferPool lock, from any connection
  // thread: the mutex serves the pools of every size class.
  uint8_t* Carve(size_t size) {
    size = (size + kAlign - 1) & ~(kAlign - 1);
    std::lock_guard<std::mutex> lock(mu_);
    if (size > kOwnMappingAbove) {
      // Whole huge pages only where the buffer fills at least one: below
      // that, rounding up would waste more than the size class does.
      size_t bytes = (size + kPage - 1) & ~(kPage - 1);
      void* p = MapAligned(bytes, bytes >= kHugePage ? kHugePage : kPage);
      if (!p) return nullptr;
      maps_.emplace_back(p, bytes);
      return static_cast<uint8_t*>(p);
    }
    if (left_ < size) {
      // Regions double from 64 KiB up to a huge page, so that a pool that
      // a slow stream keeps small does not take 2 MiB.
      size_t bytes = std::min(kHugePage, std::max(kFirstRegion, mapped_));
      while (bytes < size) bytes *= 2;
      void* p = MapAligned(bytes, bytes == kHugePage ? kHugePage : kPage);
      if (!p) return nullptr;
      maps_.emplace_back(p, bytes);
      mapped_ += bytes;
      next_ = static_cast<uint8_t*>(p);
      left_ = bytes;
    }
    uint8_t* out = next_;
    next_ += size;
    left_ -= size;
    return out;
  }

  static AVBufferRef* Alloc(void* opaque, size_t size) {
    uint8_t* data = static_cast<Arena*>(opaque)->Carve(size);
    return data ? av_buffer_create(data, size, KeepBuffer, nullptr, 0) : nullptr;
  }
  static void PoolFreed(void* opaque) { static_cast<Arena*>(opaque)->Unref(); }

 private:
  ~Arena() {
    for (auto& [p, bytes] : maps_) munmap(p, bytes);
  }

  std::atomic<int> refs_{1};
  std::mutex mu_;
  std::vector<std::pair<void*, size_t>> maps_;
  uint8_t* next_ = nullptr;
  size_t left_ = 0;
  size_t mapped_ = 0;  // regions only, not buffers with a mapping of their own
};

PacketPool::PacketPool() : arena_(new Arena) {
  // All made up front (a few bytes each), so no connection thread ever
  // creates one.
  for (int i = 0; i < kClasses; i++) {
    pools_[i] = av_buffer_pool_init2(ClassSize(i), arena_, Arena::Alloc, Arena::PoolFreed);
    if (pools_[i]) arena_->Ref();  // dropped by PoolFreed
  }
}

PacketPool::~PacketPool() {
  // Buffers still held by JS Buffers keep their pool, and so the arena,
  // alive until they return.
  for (AVBufferPool*& pool : pools_) av_buffer_pool_uninit(&pool);
  arena_->Unref();
}

size_t PacketPool::ClassSize(int index) {
  int shift = kMinShift + index / kStepsPerOctave;
  size_t step = index % kStepsPerOctave;
  return (size_t{1} << shift) + step * (size_t{1} << shift) / kStepsPerOctave;
}

int PacketPool::ClassOf(size_t bytes) {
  for (int i = 0; i < kClasses; i++)
    if (ClassSize(i) >= bytes) return i;
  return -1;
}

bool PacketPool::Adopt(AVPacket* packet) {
  size_t needed = static_cast<size_t>(packet->size) + AV_INPUT_BUFFER_PADDING_SIZE;
  int index = ClassOf(needed);
  if (index < 0) return false;
  AVBufferPool* pool = pools_[index];
  if (!pool) return false;
  AVBufferRef* buf = av_buffer_pool_get(pool);
  if (!buf) return false;
  std::memcpy(buf->data, packet->data, packet->size);
  std::memset(buf->data + packet->size, 0, AV_INPUT_BUFFER_PADDING_SIZE);
  av_buffer_unref(&packet->buf);
  packet->buf = buf;
  packet->data = buf->data;
  return true;
}

}  // namespace rtmp_ingest
