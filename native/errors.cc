#include "errors.h"

#include <cerrno>
#include <cstring>

extern "C" {
#include <libavutil/error.h>
}

namespace rtmp_ingest {

const char* ErrnoName(int err) {
  // A fixed table rather than strerrorname_np, which needs glibc 2.32.
  switch (err) {
    case EADDRINUSE: return "EADDRINUSE";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EINVAL: return "EINVAL";
    case ECONNRESET: return "ECONNRESET";
    case ECONNABORTED: return "ECONNABORTED";
    case ECONNREFUSED: return "ECONNREFUSED";
    case EPIPE: return "EPIPE";
    case ETIMEDOUT: return "ETIMEDOUT";
    case ENOTCONN: return "ENOTCONN";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case ENOMEM: return "ENOMEM";
    case ENOBUFS: return "ENOBUFS";
    case EIO: return "EIO";
    case EAGAIN: return "EAGAIN";
    case EINTR: return "EINTR";
    case ENOSYS: return "ENOSYS";
    case ENOENT: return "ENOENT";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case ENOSPC: return "ENOSPC";
    case EDQUOT: return "EDQUOT";
    case EROFS: return "EROFS";
    case EEXIST: return "EEXIST";
    case EFBIG: return "EFBIG";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ENETUNREACH: return "ENETUNREACH";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    default: return nullptr;
  }
}

static std::string Join(const std::string& context, const std::string& what) {
  return context.empty() ? what : context + ": " + what;
}

ErrorInfo ErrorFromErrno(int err, const std::string& context) {
  const char* name = ErrnoName(err);
  ErrorInfo info;
  info.code = name ? name : "ERR_SYSTEM_" + std::to_string(err);
  info.message = Join(context, std::strerror(err));
  return info;
}

ErrorInfo ErrorFromAverror(int averror, const std::string& context) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(averror, text, sizeof(text));
  ErrorInfo info;
  info.averror = averror;
  info.message = Join(context, text);
  // AVERROR(e) is -e for POSIX errors; FFmpeg's own are FFERRTAGs.
  if (averror < 0 && averror > -4096 && ErrnoName(-averror)) {
    info.code = ErrnoName(-averror);
    return info;
  }
  switch (averror) {
    case AVERROR_INVALIDDATA: info.code = "ERR_FFMPEG_INVALIDDATA"; break;
    case AVERROR_EOF: info.code = "ERR_FFMPEG_EOF"; break;
    case AVERROR_EXIT: info.code = "ERR_FFMPEG_EXIT"; break;
    case AVERROR_PATCHWELCOME: info.code = "ERR_FFMPEG_PATCHWELCOME"; break;
    case AVERROR_BUG:
    case AVERROR_BUG2: info.code = "ERR_FFMPEG_BUG"; break;
    case AVERROR_DECODER_NOT_FOUND:
    case AVERROR_DEMUXER_NOT_FOUND:
    case AVERROR_PROTOCOL_NOT_FOUND: info.code = "ERR_FFMPEG_NOT_FOUND"; break;
    case AVERROR_EXTERNAL: info.code = "ERR_FFMPEG_EXTERNAL"; break;
    default: info.code = "ERR_FFMPEG"; break;
  }
  return info;
}

}  // namespace rtmp_ingest
