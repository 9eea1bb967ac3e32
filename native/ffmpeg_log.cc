#include "ffmpeg_log.h"

#include <algorithm>
#include <cstdarg>
#include <mutex>
#include <string>
#include <utility>

extern "C" {
#include <libavutil/log.h>
}

namespace rtmp_ingest {

namespace {

struct ThreadRoute {
  EventQueue* queue = nullptr;
  int level = AV_LOG_ERROR;
  uint64_t connection = 0;
  int print_prefix = 1;
  std::string partial;  // FFmpeg often logs one line in several calls
  std::string errors;  // the error lines since TakeErrorLines(), "; "-separated
};

// Enough for TLS's reason, its consequence and the protocol's conclusion.
constexpr size_t kMaxKeptErrorChars = 1000;

thread_local ThreadRoute t_route;

void Callback(void* avcl, int level, const char* fmt, va_list args) {
  ThreadRoute& route = t_route;
  if (level >= 0) level &= 0xff;  // strip the colour tint bits
  // Error lines are kept whatever the level: they explain a failure that
  // FFmpeg reports only as AVERROR(EIO) (a TLS certificate rejected).
  if (!route.queue || level > std::max(route.level, AV_LOG_ERROR)) return;
  char line[1024];
  av_log_format_line2(avcl, level, fmt, args, line, sizeof(line), &route.print_prefix);
  route.partial += line;
  if (route.partial.empty() || route.partial.back() != '\n') return;
  route.partial.pop_back();
  if (level <= AV_LOG_ERROR && route.errors.size() < kMaxKeptErrorChars) {
    // Without the "[class @ 0x...] " prefix.
    size_t prefix_end = route.partial.rfind("] ");
    if (!route.errors.empty()) route.errors += "; ";
    route.errors += prefix_end == std::string::npos ? route.partial : route.partial.substr(prefix_end + 2);
  }
  if (level > route.level) {
    route.partial.clear();
    return;
  }
  Event event(Event::Kind::Log, route.connection);
  event.level = level;
  event.message = std::move(route.partial);
  route.partial.clear();
  route.queue->Push(std::move(event));
}

}  // namespace

void InstallLogCallback(int level) {
  static std::once_flag once;
  static std::mutex level_mu;
  std::call_once(once, [] { av_log_set_callback(Callback); });
  // The callback sees every line and filters per server; the global level
  // only gates FFmpeg's costly debug work (packet dumps), so it rises to the
  // most verbose level any server asked for and never drops.
  std::lock_guard<std::mutex> lock(level_mu);
  if (level > av_log_get_level()) av_log_set_level(level);
}

ScopedLogRoute::ScopedLogRoute(EventQueue* queue, int level, uint64_t connection) {
  t_route.queue = queue;
  t_route.level = level;
  t_route.connection = connection;
}

std::string TakeErrorLines() { return std::exchange(t_route.errors, {}); }

ScopedLogRoute::~ScopedLogRoute() {
  t_route.queue = nullptr;
  t_route.partial.clear();
}

}  // namespace rtmp_ingest
