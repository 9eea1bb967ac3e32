// Reused memory for the packets handed to JS. libavformat allocates every
// packet afresh, and JS frees them only when V8 collects their Buffers, in
// bursts: the reading thread's heap grew and shrank with them and its pages
// were faulted in again. A connection copies each packet into a buffer from
// a pool of its size class instead; the buffer returns to the pool when JS
// lets go of it, and the pool outlives its server until every buffer is
// back. One pool per server, shared by its connection threads.
//
// A pool grows until V8 first collects the Buffers, which in a fresh
// session takes tens of megabytes: the pools' memory comes from regions
// mapped for them (64 KiB, doubling up to 2 MiB, those advised as huge
// pages), faulted in whole, rather than from malloc a buffer at a time and
// a page fault per 4 KiB.
#pragma once

#include <array>
#include <cstddef>

extern "C" {
#include <libavcodec/packet.h>
#include <libavutil/buffer.h>
}

namespace rtmp_ingest {

class PacketPool {
 public:
  PacketPool();
  ~PacketPool();
  PacketPool(const PacketPool&) = delete;
  PacketPool& operator=(const PacketPool&) = delete;

  // Moves `packet`'s data into pooled memory; false (the packet unchanged)
  // when it is too large for the pool or memory runs out.
  bool Adopt(AVPacket* packet);

 private:
  // Four size classes per power of two from 1 KiB, up to 16 MiB (FLV's
  // largest message): a buffer wastes at most a fifth of its size.
  static constexpr int kStepsPerOctave = 4;
  static constexpr int kMinShift = 10;
  static constexpr int kMaxShift = 24;
  static constexpr int kClasses = (kMaxShift - kMinShift) * kStepsPerOctave + 1;

  static int ClassOf(size_t bytes);
  static size_t ClassSize(int index);

  // Where the pools' buffers are carved from; freed with the last pool to
  // be freed (av_buffer_pool_uninit frees a pool once its buffers are back).
  class Arena;
  Arena* arena_;
  std::array<AVBufferPool*, kClasses> pools_{};
};

}  // namespace rtmp_ingest
