#include "packet_pool.h"

#include <cstring>

extern "C" {
#include <libavcodec/defs.h>
}

namespace rtmp_ingest {

PacketPool::PacketPool() {
  // All made up front (a few bytes each), so no thread ever creates one.
  for (int i = 0; i < kClasses; i++) pools_[i] = av_buffer_pool_init(ClassSize(i), nullptr);
}

PacketPool::~PacketPool() {
  // Buffers still held by JS Buffers keep their pool alive until they return.
  for (AVBufferPool*& pool : pools_) av_buffer_pool_uninit(&pool);
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
