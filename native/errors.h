// Errors as the JS side sees them: a stable code, a message and, for
// FFmpeg's own failures, the AVERROR value.
#pragma once

#include <string>

namespace rtmp_ingest {

struct ErrorInfo {
  std::string code;
  std::string message;
  int averror = 0;  // 0 when the error did not come from FFmpeg
};

// 'ECONNRESET' for AVERROR(ECONNRESET), 'ERR_FFMPEG_INVALIDDATA' for
// AVERROR_INVALIDDATA, ...; the message is av_strerror's text.
ErrorInfo ErrorFromAverror(int averror, const std::string& context);

// 'EADDRINUSE', 'EACCES', ... from an errno value.
ErrorInfo ErrorFromErrno(int err, const std::string& context);

const char* ErrnoName(int err);

}  // namespace rtmp_ingest
