#include "reader.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <ctime>
#include <utility>
#include <vector>

#include "ffmpeg_log.h"
#include "js_convert.h"
#include "stream_probe.h"

extern "C" {
#include <libavutil/opt.h>
#include <libavutil/time.h>
}

namespace rtmp_ingest {

namespace {

// A JS thread that drained nothing for this long is taken to be asleep.
constexpr int64_t kYieldAfterIdleUs = 1000;
// How often a busy listener turns away publishers queued behind the current one.
constexpr int64_t kRefusalIntervalUs = 200 * 1000;
// Bytes one recv() may bring in for the RTMP parser (patch 0003).
constexpr int kReadAheadBytes = 64 * 1024;
// The chunk size announced to publishers (patch 0008; FFmpeg announces 128).
// Publishers that mirror it, FFmpeg's among them, then send 4096-byte
// chunks, as OBS does anyway: a 32nd of the chunk headers. Far larger
// chunks (64 KiB) let random bytes pass as payload for longer, so a
// garbled stream ended as 'eof' rather than a coded error.
constexpr int kAnnouncedChunkSize = 4096;
// How long a publisher that ended its stream may take to close the connection.
constexpr int64_t kPublisherCloseGraceMs = 5000;

MetadataEntries ReadMetadata(const AVFormatContext* input) {
  MetadataEntries metadata;
  const AVDictionaryEntry* entry = nullptr;
  while ((entry = av_dict_iterate(input->metadata, entry))) metadata.emplace_back(entry->key, entry->value);
  return metadata;
}

std::string PeerOption(AVFormatContext* input, const char* name) {
  uint8_t* value = nullptr;
  std::string result;
  if (input->pb && av_opt_get(input->pb, name, AV_OPT_SEARCH_CHILDREN, &value) >= 0 && value)
    result = reinterpret_cast<char*>(value);
  av_free(value);
  return result;
}

void DescribeAddress(const sockaddr* addr, socklen_t len, std::string* host, int* port) {
  char text[NI_MAXHOST] = {0};
  char serv[NI_MAXSERV] = {0};
  if (getnameinfo(addr, len, text, sizeof(text), serv, sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
    *host = text;
    *port = std::atoi(serv);
  }
}

}  // namespace

Reader::Reader(ReaderOptions options, EventQueue* queue) : options_(std::move(options)), queue_(queue) {}

Reader::~Reader() { Stop(); }

std::optional<BoundAddress> Reader::Listen(ErrorInfo* error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  std::string port = std::to_string(options_.port);
  int rc = getaddrinfo(options_.host.empty() ? nullptr : options_.host.c_str(), port.c_str(), &hints, &found);
  if (rc != 0) {
    error->code = rc == EAI_NONAME ? "ENOTFOUND" : "EAI_FAIL";
    error->message = "cannot resolve " + options_.host + ": " + gai_strerror(rc);
    return std::nullopt;
  }
  int last_errno = EADDRNOTAVAIL;
  const char* failed_step = "bind";
  for (addrinfo* ai = found; ai; ai = ai->ai_next) {
    UniqueFd fd(socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) {
      last_errno = errno;
      failed_step = "socket";
      continue;
    }
    int one = 1;
    setsockopt(fd.Get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd.Get(), ai->ai_addr, ai->ai_addrlen) < 0) {
      last_errno = errno;
      failed_step = "bind";
      continue;
    }
    if (listen(fd.Get(), 8) < 0) {
      last_errno = errno;
      failed_step = "listen";
      continue;
    }
    sockaddr_storage local{};
    socklen_t local_len = sizeof(local);
    getsockname(fd.Get(), reinterpret_cast<sockaddr*>(&local), &local_len);
    DescribeAddress(reinterpret_cast<sockaddr*>(&local), local_len, &bound_.host, &bound_.port);
    listen_fd_ = std::move(fd);
    break;
  }
  freeaddrinfo(found);
  if (!listen_fd_) {
    *error = ErrorFromErrno(last_errno, std::string(failed_step) + " " + options_.host + ":" + port);
    return std::nullopt;
  }
  wake_fd_.Reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake_fd_) {
    *error = ErrorFromErrno(errno, "eventfd");
    listen_fd_.Reset();
    return std::nullopt;
  }
  return bound_;
}

void Reader::Start() {
  InstallLogCallback(options_.log_level);
  thread_ = std::thread(&Reader::Run, this);
}

void Reader::Authorize(uint64_t ticket, bool allow) {
  std::lock_guard<std::mutex> lock(mu_);
  if (ticket != pending_ticket_) return;  // a stale answer for a publisher that is gone
  verdict_ = allow;
  cv_.notify_all();
}

void Reader::Release(int64_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  outstanding_bytes_ -= bytes;
  if (outstanding_bytes_ < 0) outstanding_bytes_ = 0;
  cv_.notify_all();
}

void Reader::Disconnect() {
  std::lock_guard<std::mutex> lock(mu_);
  if (active_fd_ < 0) return;
  disconnecting_ = true;
  shutdown(active_fd_, SHUT_RDWR);
  cv_.notify_all();
}

void Reader::Stop() {
  stopping_.store(true);
  if (wake_fd_) {
    uint64_t one = 1;
    ssize_t ignored = write(wake_fd_.Get(), &one, sizeof(one));
    (void)ignored;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Shutting the socket down wakes FFmpeg's poll and recv at once.
    if (active_fd_ >= 0) shutdown(active_fd_, SHUT_RDWR);
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  listen_fd_.Reset();
  wake_fd_.Reset();
}

void Reader::Run() {
  ScopedLogRoute log_route(queue_, options_.log_level);
  std::optional<ErrorInfo> fatal;
  while (!stopping_.load()) {
    UniqueFd conn;
    Peer peer;
    if (!Accept(&conn, &peer, &fatal)) break;
    Serve(std::move(conn), peer);
    if (!options_.keep_alive) break;
  }
  if (!stopping_.load()) {
    Event stopped(Event::Kind::Stopped);
    stopped.error = std::move(fatal);
    queue_->Push(std::move(stopped));
  }
}

bool Reader::Accept(UniqueFd* conn, Peer* peer, std::optional<ErrorInfo>* fatal) {
  while (!stopping_.load()) {
    pollfd fds[2] = {{listen_fd_.Get(), POLLIN, 0}, {wake_fd_.Get(), POLLIN, 0}};
    int ready = poll(fds, 2, -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      *fatal = ErrorFromErrno(errno, "poll");
      return false;
    }
    if (fds[1].revents) return false;
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    int fd = accept4(listen_fd_.Get(), reinterpret_cast<sockaddr*>(&addr), &len, SOCK_CLOEXEC);
    if (fd < 0) {
      switch (errno) {
        case EAGAIN:
        case EINTR:
        case ECONNABORTED:
        case EPROTO:
          continue;
        case EMFILE:
        case ENFILE:
        case ENOBUFS:
        case ENOMEM:
          // Out of descriptors or memory: back off instead of spinning; the
          // connection stays queued and is taken when resources return.
          av_log(nullptr, AV_LOG_ERROR, "accept: %s\n", strerror(errno));
          poll(fds + 1, 1, 100);
          continue;
        default:
          *fatal = ErrorFromErrno(errno, "accept");
          return false;
      }
    }
    conn->Reset(fd);
    DescribeAddress(reinterpret_cast<sockaddr*>(&addr), len, &peer->address, &peer->port);
    return true;
  }
  return false;
}

// Milliseconds since TCP last received data on `fd`; -1 when unknown.
static int64_t MillisSinceDataReceived(int fd) {
  tcp_info info{};
  socklen_t len = sizeof(info);
  if (fd < 0 || getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) < 0) return -1;
  return info.tcpi_last_data_recv;
}

int Reader::OnInterrupt(void* opaque) {
  auto* self = static_cast<Reader*>(opaque);
  if (self->stopping_.load(std::memory_order_relaxed)) {
    self->interrupted_ = Interrupt::Stopping;
    return 1;
  }
  int64_t now = MonotonicMicros();
  if (now >= self->deadline_us_) {
    // One packet can take longer than the idle timeout to arrive (a large
    // key frame over a slow link): the publisher is idle only if TCP has
    // received nothing either. The handshake deadline is not extended.
    int64_t quiet_ms = self->deadline_is_idle_ ? MillisSinceDataReceived(self->active_fd_) : -1;
    if (quiet_ms >= 0 && quiet_ms < self->options_.idle_timeout_ms) {
      self->deadline_us_ = now + (self->options_.idle_timeout_ms - quiet_ms) * 1000;
      return 0;
    }
    self->interrupted_ = Interrupt::Deadline;
    return 1;
  }
  if (self->serving_publisher_ && now >= self->next_refusal_check_us_) self->RefuseWaitingPublishers(now);
  return 0;
}

void Reader::ArmHandshakeDeadline() {
  int64_t timeout_ms = options_.handshake_timeout_ms;
  deadline_us_ = timeout_ms > 0 ? MonotonicMicros() + timeout_ms * 1000 : INT64_MAX;
  deadline_is_idle_ = false;
}

void Reader::ArmIdleDeadline() {
  int64_t timeout_ms = options_.idle_timeout_ms;
  deadline_us_ = timeout_ms > 0 ? MonotonicMicros() + timeout_ms * 1000 : INT64_MAX;
  deadline_is_idle_ = true;
}

// FFmpeg's listen semantics: one publisher at a time. Others that connect
// while a publisher streams are refused at once (reset), not left hanging in
// the backlog. During a handshake they wait instead: the connection being
// handshaken may be a port scanner that is about to time out.
void Reader::RefuseWaitingPublishers(int64_t now_us) {
  next_refusal_check_us_ = now_us + kRefusalIntervalUs;
  for (;;) {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    int fd = accept4(listen_fd_.Get(), reinterpret_cast<sockaddr*>(&addr), &len, SOCK_CLOEXEC);
    if (fd < 0) return;
    std::string host;
    int port = 0;
    DescribeAddress(reinterpret_cast<sockaddr*>(&addr), len, &host, &port);
    av_log(nullptr, AV_LOG_INFO, "refused %s:%d: a publisher is already connected\n", host.c_str(), port);
    linger reset{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
    close(fd);
  }
}

InputPtr Reader::OpenInput(int fd, const Peer& peer) {
  AVFormatContext* raw = avformat_alloc_context();
  if (!raw) return nullptr;
  raw->interrupt_callback = {&Reader::OnInterrupt, this};
  Dictionary opts;
  opts.Set("listen", "1");
  opts.Set("fd", std::to_string(fd).c_str());
  opts.Set("tcp_nodelay", "1");
  // Our tcp patch: one recv() serves many of RTMP's small chunk reads.
  opts.Set("read_ahead", std::to_string(kReadAheadBytes).c_str());
  opts.Set("rtmp_listen_chunk_size", std::to_string(kAnnouncedChunkSize).c_str());
  // FFmpeg compares these with what the publisher sends and only warns; the
  // JS side enforces the key.
  std::string url = "rtmp://127.0.0.1:" + std::to_string(bound_.port) + "/" + options_.app + "/" + options_.stream_key;

  interrupted_ = Interrupt::None;
  ArmHandshakeDeadline();
  int ret = avformat_open_input(&raw, url.c_str(), av_find_input_format("flv"), opts.Address());
  if (ret < 0) {  // avformat_open_input freed the context
    if (!stopping_.load()) {
      Event rejected(Event::Kind::Rejected);
      rejected.reason = interrupted_ == Interrupt::Deadline ? "handshake-timeout" : "protocol-error";
      rejected.remote_address = peer.address;
      rejected.remote_port = peer.port;
      rejected.error = interrupted_ == Interrupt::Deadline
                           ? ErrorInfo{"ETIMEDOUT", "the publisher did not start publishing within " +
                                                        std::to_string(options_.handshake_timeout_ms) + " ms", ret}
                           : ErrorFromAverror(ret, "RTMP handshake");
      queue_->Push(std::move(rejected));
    }
    return nullptr;
  }
  return InputPtr(raw);
}

bool Reader::AwaitVerdict(uint64_t ticket) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return stopping_.load() || verdict_.has_value(); });
  bool allowed = !stopping_.load() && verdict_.value_or(false);
  pending_ticket_ = 0;
  verdict_.reset();
  return allowed;
}

bool Reader::WaitForRoom() {
  std::unique_lock<std::mutex> lock(mu_);
  if (outstanding_bytes_ < options_.high_water_mark_bytes) return !stopping_.load() && !disconnecting_;
  // In slices: while JS holds the reader back, publishers queued behind
  // this one must still be refused at once (FFmpeg is not polling now).
  while (!stopping_.load() && !disconnecting_ && outstanding_bytes_ >= options_.high_water_mark_bytes) {
    cv_.wait_for(lock, std::chrono::microseconds(kRefusalIntervalUs));
    if (serving_publisher_ && MonotonicMicros() >= next_refusal_check_us_) {
      lock.unlock();
      RefuseWaitingPublishers(MonotonicMicros());
      lock.lock();
    }
  }
  if (disconnecting_) return false;
  lock.unlock();
  // Time spent waiting for JS is not the publisher's idleness.
  ArmIdleDeadline();
  return !stopping_.load();
}

void Reader::PushPacket(PacketPtr packet, int64_t read_at_us) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    outstanding_bytes_ += packet->size;
  }
  // A live stream leaves the JS thread asleep between frames. Woken, it is
  // often queued on this CPU (the doorbell asks for that), behind this
  // thread, which may go on reading a whole video frame: 1.4-2.5 ms before
  // the handler ran, in the slow hops traced. Yielding once lets it run
  // first. Not when the JS thread drained any listener recently (a backlog,
  // or many listeners): there yields only add context switches.
  if (queue_->PushPacket(std::move(packet), read_at_us, kYieldAfterIdleUs)) std::this_thread::yield();
}

void Reader::Serve(UniqueFd conn, const Peer& peer) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    active_fd_ = conn.Get();
    outstanding_bytes_ = 0;
    disconnecting_ = false;
  }
  // Whatever happens below, Stop() must not shut down a descriptor number
  // that has been closed and reused.
  struct ActiveFdReset {
    Reader* self;
    ~ActiveFdReset() {
      std::lock_guard<std::mutex> lock(self->mu_);
      self->active_fd_ = -1;
    }
  } active_fd_reset{this};
  if (stopping_.load()) return;

  Event connection(Event::Kind::Connection);
  connection.remote_address = peer.address;
  connection.remote_port = peer.port;
  queue_->Push(std::move(connection));

  InputPtr input = OpenInput(conn.Get(), peer);
  if (!input) return;
  if (!Authorized(input.get(), peer)) return;  // rejected: no byte of the stream reaches JS

  serving_publisher_ = true;
  struct ServingReset {
    bool* flag;
    ~ServingReset() { *flag = false; }
  } serving_reset{&serving_publisher_};
  std::vector<StreamProbe> probes;
  int read_error = StartSession(input.get(), &probes);
  while (read_error == 0 && WaitForRoom()) read_error = ReadAndPush(input.get(), &probes);
  // The first error the stream hit (patch 0006 keeps it): av_read_frame
  // may only report the end-of-file that followed it.
  int stream_error = input->pb ? input->pb->error : 0;
  EndSession(read_error, stream_error, conn.Get());
  if (read_error == AVERROR_EOF) AwaitPublisherClose(conn.Get());
}

// A publisher closes the connection itself after its deleteStream; closing
// ours first makes some (GStreamer's rtmp2sink) fail with "connection closed
// remotely". Wait briefly for its FIN, discarding anything after the end.
void Reader::AwaitPublisherClose(int fd) {
  const int64_t deadline_us = MonotonicMicros() + kPublisherCloseGraceMs * 1000;
  char discard[4096];
  while (!stopping_.load()) {
    int64_t left_ms = (deadline_us - MonotonicMicros()) / 1000;
    if (left_ms <= 0) return;
    pollfd fds[2] = {{fd, POLLIN, 0}, {wake_fd_.Get(), POLLIN, 0}};
    int ready = poll(fds, 2, static_cast<int>(left_ms));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0 || fds[1].revents) return;
    ssize_t n = recv(fd, discard, sizeof(discard), MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return;
  }
}

bool Reader::Authorized(AVFormatContext* input, const Peer& peer) {
  uint64_t ticket = ++next_ticket_;
  {
    std::lock_guard<std::mutex> lock(mu_);
    pending_ticket_ = ticket;
    verdict_.reset();
  }
  Event authorize(Event::Kind::Authorize);
  authorize.ticket = ticket;
  authorize.app = PeerOption(input, "rtmp_peer_app");
  authorize.stream_key = PeerOption(input, "rtmp_peer_stream");
  authorize.remote_address = peer.address;
  authorize.remote_port = peer.port;
  queue_->Push(std::move(authorize));
  return AwaitVerdict(ticket);
}

// libavformat gives a video packet a duration from the stream's
// r_frame_rate, which only avformat_find_stream_info sets (we do not run
// it: it would wait seconds on a live stream), or from the parser's frame
// rate, which the VP9 parser never sets and the AV1 parser only from
// timing_info. Where neither applies, the frame rate the publisher
// announced (onMetaData) stands in for r_frame_rate, as that probe would.
static void GiveVideoDuration(AVStream* stream, AVPacket* packet) {
  if (packet->duration > 0 || stream->codecpar->codec_type != AVMEDIA_TYPE_VIDEO) return;
  AVRational rate = stream->avg_frame_rate;
  if (rate.num <= 0 || rate.den <= 0 || stream->r_frame_rate.num > 0) return;
  stream->r_frame_rate = rate;  // libavformat fills in the packets that follow
  packet->duration = av_rescale_rnd(1, int64_t{rate.den} * stream->time_base.den,
                                    int64_t{rate.num} * stream->time_base.num, AV_ROUND_DOWN);
}

int Reader::ReadPacket(AVFormatContext* input, PacketPtr* packet, int64_t* read_at_us) {
  packet->reset(av_packet_alloc());
  if (!*packet) return AVERROR(ENOMEM);
  int ret = av_read_frame(input, packet->get());
  if (ret < 0) return ret;
  *read_at_us = MonotonicMicros();
  ArmIdleDeadline();
  GiveVideoDuration(input->streams[(*packet)->stream_index], packet->get());
  // Handed over to JS, the packet's memory comes from the pool, so it is
  // reused once JS collects the Buffer; a copy otherwise.
  if ((*packet)->size >= kCopyBelowBytes && packet_pool_.Adopt(packet->get())) return 0;
  if (!(*packet)->buf && av_packet_make_refcounted(packet->get()) < 0) return AVERROR(ENOMEM);
  return 0;
}

int Reader::StartSession(AVFormatContext* input, std::vector<StreamProbe>* probes) {
  // Describe the streams from the first packets, holding them back until
  // the session event has gone out; they follow it in order.
  std::vector<std::pair<PacketPtr, int64_t>> held;  // with read times
  int64_t probe_deadline_us = INT64_MAX;
  int read_error = 0;
  ArmIdleDeadline();
  for (;;) {
    PacketPtr packet;
    int64_t now = 0;
    if ((read_error = ReadPacket(input, &packet, &now)) < 0) break;
    while (probes->size() < input->nb_streams) probes->emplace_back(input->streams[probes->size()]);
    (*probes)[packet->stream_index].Feed(packet.get());
    held.emplace_back(std::move(packet), now);
    if (probe_deadline_us == INT64_MAX) probe_deadline_us = now + options_.probe_ms * 1000;

    bool all_described = true;
    for (const StreamProbe& probe : *probes) all_described = all_described && probe.Complete();
    // The demuxer clears NOHEADER once every stream the FLV header or the
    // metadata announced exists.
    bool all_present = !(input->ctx_flags & AVFMTCTX_NOHEADER);
    if ((all_described && all_present) || now >= probe_deadline_us) break;
  }

  Event session(Event::Kind::Session);
  for (unsigned i = 0; i < input->nb_streams; i++) {
    if (i >= probes->size()) probes->emplace_back(input->streams[i]);
    session.streams.push_back((*probes)[i].Describe(input->streams[i]));
  }
  session.metadata = ReadMetadata(input);
  input->event_flags &= ~AVFMT_EVENT_FLAG_METADATA_UPDATED;
  queue_->Push(std::move(session));
  for (auto& [packet, read_at_us] : held) PushPacket(std::move(packet), read_at_us);
  return read_error;
}

int Reader::ReadAndPush(AVFormatContext* input, std::vector<StreamProbe>* probes) {
  PacketPtr packet;
  int64_t read_at_us = 0;
  if (int ret = ReadPacket(input, &packet, &read_at_us); ret < 0) return ret;
  while (probes->size() < input->nb_streams) {
    // A stream that starts after the session: announced before its first packet.
    size_t index = probes->size();
    probes->emplace_back(input->streams[index]);
    if (static_cast<size_t>(packet->stream_index) == index) probes->back().Feed(packet.get());
    Event stream(Event::Kind::Stream);
    stream.streams.push_back(probes->back().Describe(input->streams[index]));
    queue_->Push(std::move(stream));
  }
  if (input->event_flags & AVFMT_EVENT_FLAG_METADATA_UPDATED) {
    input->event_flags &= ~AVFMT_EVENT_FLAG_METADATA_UPDATED;
    Event metadata(Event::Kind::Metadata);
    metadata.metadata = ReadMetadata(input);
    queue_->Push(std::move(metadata));
  }
  PushPacket(std::move(packet), read_at_us);
  return 0;
}

enum class ConnectionState { Open, Closed, Reset };

// How the publisher's side of the connection ended. RTMP reports every
// failed read as AVERROR(EIO), and once a read has returned ECONNRESET the
// socket reads as a plain end of file, so ask TCP for its state instead:
// a FIN leaves CLOSE_WAIT, a reset leaves CLOSE.
static ConnectionState PeerState(int fd) {
  tcp_info info{};
  socklen_t len = sizeof(info);
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) < 0) return ConnectionState::Open;
  if (info.tcpi_state == TCP_CLOSE_WAIT) return ConnectionState::Closed;
  if (info.tcpi_state == TCP_CLOSE) return ConnectionState::Reset;
  return ConnectionState::Open;
}

void Reader::EndSession(int averror, int stream_error, int fd) {
  Event end(Event::Kind::End);
  bool disconnecting;
  {
    std::lock_guard<std::mutex> lock(mu_);
    disconnecting = disconnecting_;
  }
  if (stopping_.load() || disconnecting) {
    end.reason = "closed";
  } else if (interrupted_ == Interrupt::Deadline) {
    end.reason = "idle-timeout";
    end.error = ErrorInfo{"ETIMEDOUT", "no data from the publisher for " + std::to_string(options_.idle_timeout_ms) + " ms",
                          averror};
  } else if (stream_error < 0 && stream_error != AVERROR_EOF && stream_error != AVERROR(EIO) &&
             stream_error != AVERROR_EXIT) {
    end.reason = "error";  // bad data from the publisher, e.g. AVERROR_INVALIDDATA
    end.error = ErrorFromAverror(stream_error, "reading the stream");
  } else if (averror == AVERROR_EOF) {
    // The publisher deleted its stream (patch 0010) or closed the connection
    // between two messages (patch 0013): every byte it sent has been read.
    end.reason = "eof";
  } else {
    switch (PeerState(fd)) {
      case ConnectionState::Closed:
        end.reason = "error";
        end.error = ErrorInfo{"EIO", "the publisher closed the connection in the middle of a message",
                              AVERROR(EIO)};
        break;
      case ConnectionState::Reset:
        end.reason = "error";
        end.error = ErrorInfo{"ECONNRESET",
                              "the publisher reset the connection before it ended its stream: "
                              "whatever it had not yet sent is lost",
                              AVERROR(ECONNRESET)};
        break;
      case ConnectionState::Open:
        end.reason = "error";
        end.error = ErrorFromAverror(averror, "reading the stream");
        break;
    }
  }
  queue_->Push(std::move(end));
}

}  // namespace rtmp_ingest
