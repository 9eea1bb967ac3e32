#include "connection.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <utility>

#include "ffmpeg_log.h"
#include "js_convert.h"
#include "proxy_protocol.h"

extern "C" {
#include <libavutil/opt.h>
}

namespace rtmp_ingest {

namespace {

// A JS thread that drained nothing for this long is taken to be asleep.
constexpr int64_t kYieldAfterIdleUs = 1000;
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

// Milliseconds since TCP last received data on `fd`; -1 when unknown.
int64_t MillisSinceDataReceived(int fd) {
  tcp_info info{};
  socklen_t len = sizeof(info);
  if (fd < 0 || getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) < 0) return -1;
  return info.tcpi_last_data_recv;
}

enum class ConnectionState { Open, Closed, Reset };

// How the publisher's side of the connection ended. RTMP reports every
// failed read as AVERROR(EIO), and once a read has returned ECONNRESET the
// socket reads as a plain end of file, so ask TCP for its state instead:
// a FIN leaves CLOSE_WAIT, a reset leaves CLOSE.
ConnectionState PeerState(int fd) {
  tcp_info info{};
  socklen_t len = sizeof(info);
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) < 0) return ConnectionState::Open;
  if (info.tcpi_state == TCP_CLOSE_WAIT) return ConnectionState::Closed;
  if (info.tcpi_state == TCP_CLOSE) return ConnectionState::Reset;
  return ConnectionState::Open;
}

// libavformat gives a video packet a duration from the stream's
// r_frame_rate, which only avformat_find_stream_info sets (we do not run
// it: it would wait seconds on a live stream), or from the parser's frame
// rate, which the VP9 parser never sets and the AV1 parser only from
// timing_info. Where neither applies, the frame rate the publisher
// announced (onMetaData) stands in for r_frame_rate, as that probe would.
void GiveVideoDuration(AVStream* stream, AVPacket* packet) {
  if (packet->duration > 0 || stream->codecpar->codec_type != AVMEDIA_TYPE_VIDEO) return;
  AVRational rate = stream->avg_frame_rate;
  if (rate.num <= 0 || rate.den <= 0 || stream->r_frame_rate.num > 0) return;
  stream->r_frame_rate = rate;  // libavformat fills in the packets that follow
  packet->duration = av_rescale_rnd(1, int64_t{rate.den} * stream->time_base.den,
                                    int64_t{rate.num} * stream->time_base.num, AV_ROUND_DOWN);
}

}  // namespace

bool AddressCounts::TryAdd(const std::string& address, int64_t limit) {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t& count = counts_[address];
  if (count >= limit) {
    if (count == 0) counts_.erase(address);
    return false;
  }
  count++;
  return true;
}

void AddressCounts::Remove(const std::string& address) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = counts_.find(address);
  if (it != counts_.end() && --it->second <= 0) counts_.erase(it);
}

Connection::Connection(uint64_t id, UniqueFd socket, Peer peer, const ServerShared* shared)
    : id_(id), socket_(std::move(socket)), peer_(std::move(peer)), shared_(shared), options_(*shared->options) {}

Connection::~Connection() {
  Stop();
  Join();
}

void Connection::Start() { thread_ = std::thread(&Connection::Run, this); }

void Connection::Join() {
  if (thread_.joinable()) thread_.join();
}

void Connection::Authorize(bool allow) {
  std::lock_guard<std::mutex> lock(mu_);
  verdict_ = allow;
  cv_.notify_all();
}

void Connection::Release(int64_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  outstanding_bytes_ -= bytes;
  if (outstanding_bytes_ < 0) outstanding_bytes_ = 0;
  cv_.notify_all();
}

void Connection::Disconnect() {
  std::lock_guard<std::mutex> lock(mu_);
  disconnecting_ = true;
  // Shutting the socket down wakes FFmpeg's poll and recv at once.
  if (socket_open_) shutdown(socket_.Get(), SHUT_RDWR);
  cv_.notify_all();
}

void Connection::Stop() {
  stopping_.store(true);
  std::lock_guard<std::mutex> lock(mu_);
  if (socket_open_) shutdown(socket_.Get(), SHUT_RDWR);
  cv_.notify_all();
}

void Connection::Run() {
  {
    ScopedLogRoute log_route(shared_->queue, options_.log_level, id_);
    Serve();
    sinks_.End();
    if (address_counted_) shared_->addresses->Remove(peer_.address);
    {
      std::lock_guard<std::mutex> lock(mu_);
      socket_open_ = false;
      socket_.Reset();
    }
    if (announced_ && !stopping_.load()) shared_->queue->Push(NewEvent(Event::Kind::Closed));
  }
  finished_.store(true);
  shared_->on_finished();  // the server may join and free this object from here on
}

void Connection::Reject(const char* reason, std::optional<ErrorInfo> error) {
  if (stopping_.load()) return;
  Event rejected = NewEvent(Event::Kind::Rejected);
  rejected.reason = reason;
  rejected.remote_address = peer_.address;
  rejected.remote_port = peer_.port;
  rejected.error = std::move(error);
  shared_->queue->Push(std::move(rejected));
}

void Connection::Serve() {
  ArmHandshakeDeadline();
  if (options_.proxy_protocol) {
    ProxyHeader header = ReadProxyHeader(socket_.Get(), deadline_us_);
    if (!header.ok) {
      if (header.timed_out)
        Reject("handshake-timeout", ErrorInfo{"ETIMEDOUT", header.error, 0});
      else
        Reject("protocol-error", ErrorInfo{"ERR_PROXY_PROTOCOL", header.error, 0});
      return;
    }
    if (header.source) peer_ = Peer{header.source->address, header.source->port};
  }
  if (!shared_->addresses->TryAdd(peer_.address, options_.max_connections_per_address)) {
    Reject("too-many-connections",
           ErrorInfo{"ERR_TOO_MANY_CONNECTIONS",
                     peer_.address + " has " + std::to_string(options_.max_connections_per_address) +
                         " connections open (maxConnectionsPerAddress)",
                     0});
    linger reset{1, 0};  // refused at once: a reset, not a lingering close
    setsockopt(socket_.Get(), SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
    return;
  }
  address_counted_ = true;
  if (stopping_.load()) return;

  Event connection = NewEvent(Event::Kind::Connection);
  connection.remote_address = peer_.address;
  connection.remote_port = peer_.port;
  shared_->queue->Push(std::move(connection));
  announced_ = true;

  InputPtr input = OpenInput();
  if (!input) return;
  if (!Authorized(input.get())) return;  // rejected: no byte of the stream reaches JS

  std::vector<StreamProbe> probes;
  int read_error = StartSession(input.get(), &probes);
  while (read_error == 0 && WaitForRoom()) read_error = ReadAndPush(input.get(), &probes);
  // The first error the stream hit (patch 0006 keeps it): av_read_frame
  // may only report the end-of-file that followed it.
  int stream_error = input->pb ? input->pb->error : 0;
  EndSession(read_error, stream_error);
  if (read_error == AVERROR_EOF) AwaitPublisherClose();
}

int Connection::OnInterrupt(void* opaque) {
  auto* self = static_cast<Connection*>(opaque);
  if (self->stopping_.load(std::memory_order_relaxed)) {
    self->interrupted_ = Interrupt::Stopping;
    return 1;
  }
  int64_t now = MonotonicMicros();
  if (now >= self->deadline_us_) {
    // One packet can take longer than the idle timeout to arrive (a large
    // key frame over a slow link): the publisher is idle only if TCP has
    // received nothing either. The handshake deadline is not extended.
    int64_t quiet_ms = self->deadline_is_idle_ ? MillisSinceDataReceived(self->socket_.Get()) : -1;
    if (quiet_ms >= 0 && quiet_ms < self->options_.idle_timeout_ms) {
      self->deadline_us_ = now + (self->options_.idle_timeout_ms - quiet_ms) * 1000;
      return 0;
    }
    self->interrupted_ = Interrupt::Deadline;
    return 1;
  }
  return 0;
}

void Connection::ArmHandshakeDeadline() {
  int64_t timeout_ms = options_.handshake_timeout_ms;
  deadline_us_ = timeout_ms > 0 ? MonotonicMicros() + timeout_ms * 1000 : INT64_MAX;
  deadline_is_idle_ = false;
}

void Connection::ArmIdleDeadline() {
  int64_t timeout_ms = options_.idle_timeout_ms;
  deadline_us_ = timeout_ms > 0 ? MonotonicMicros() + timeout_ms * 1000 : INT64_MAX;
  deadline_is_idle_ = true;
}

InputPtr Connection::OpenInput() {
  AVFormatContext* raw = avformat_alloc_context();
  if (!raw) return nullptr;
  raw->interrupt_callback = {&Connection::OnInterrupt, this};
  Dictionary opts;
  opts.Set("listen", "1");
  opts.Set("fd", std::to_string(socket_.Get()).c_str());
  opts.Set("tcp_nodelay", "1");
  // Our tcp patch: one recv() serves many of RTMP's small chunk reads.
  opts.Set("read_ahead", std::to_string(kReadAheadBytes).c_str());
  opts.Set("rtmp_listen_chunk_size", std::to_string(kAnnouncedChunkSize).c_str());
  // Any app and stream key: lib/ routes and authorizes them (FFmpeg would
  // only warn about a mismatch).
  interrupted_ = Interrupt::None;
  int ret = avformat_open_input(&raw, "rtmp://127.0.0.1/", av_find_input_format("flv"), opts.Address());
  if (ret < 0) {  // avformat_open_input freed the context
    if (interrupted_ == Interrupt::Deadline)
      Reject("handshake-timeout", ErrorInfo{"ETIMEDOUT", "the publisher did not start publishing within " +
                                                             std::to_string(options_.handshake_timeout_ms) + " ms",
                                            ret});
    else
      Reject("protocol-error", ErrorFromAverror(ret, "RTMP handshake"));
    return nullptr;
  }
  return InputPtr(raw);
}

bool Connection::Authorized(AVFormatContext* input) {
  Event authorize = NewEvent(Event::Kind::Authorize);
  authorize.app = PeerOption(input, "rtmp_peer_app");
  authorize.stream_key = PeerOption(input, "rtmp_peer_stream");
  authorize.remote_address = peer_.address;
  authorize.remote_port = peer_.port;
  shared_->queue->Push(std::move(authorize));
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return stopping_.load() || verdict_.has_value(); });
  return !stopping_.load() && verdict_.value_or(false);
}

bool Connection::WaitForRoom() {
  std::unique_lock<std::mutex> lock(mu_);
  if (outstanding_bytes_ < options_.high_water_mark_bytes) return !stopping_.load() && !disconnecting_;
  cv_.wait(lock, [&] {
    return stopping_.load() || disconnecting_ || outstanding_bytes_ < options_.high_water_mark_bytes;
  });
  if (disconnecting_ || stopping_.load()) return false;
  lock.unlock();
  // Time spent waiting for JS is not the publisher's idleness.
  ArmIdleDeadline();
  return true;
}

PacketCounts Connection::Undelivered() {
  std::lock_guard<std::mutex> lock(mu_);
  return undelivered_;
}

void Connection::PushPacket(PacketPtr packet, int64_t read_at_us) {
  sinks_.Offer(packet.get());
  if (!deliver_packets_.load(std::memory_order_relaxed)) {
    std::lock_guard<std::mutex> lock(mu_);
    PacketCounts& c = undelivered_;
    bool key = packet->flags & AV_PKT_FLAG_KEY;
    c.packets++;
    c.bytes += packet->size;
    c.keyframes += key;
    c.corrupt += (packet->flags & AV_PKT_FLAG_CORRUPT) != 0;
    c.last_read_us = read_at_us;
    if (c.streams.size() <= static_cast<size_t>(packet->stream_index)) c.streams.resize(packet->stream_index + 1);
    PacketCounts::Stream& s = c.streams[packet->stream_index];
    s.packets++;
    s.bytes += packet->size;
    s.keyframes += key;
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    outstanding_bytes_ += packet->size;
  }
  // A live stream leaves the JS thread asleep between frames. Woken, it is
  // most often queued on this CPU (the waker's), behind this thread, which
  // may go on reading a whole video frame: 1.4-2.5 ms before the handler
  // ran, in the slow hops traced. Yielding once lets it run first. Not when
  // the JS thread drained any server recently (a backlog, or many
  // connections): there yields only add context switches.
  if (shared_->queue->PushPacket(id_, std::move(packet), read_at_us, kYieldAfterIdleUs)) std::this_thread::yield();
}

// A publisher closes the connection itself after its deleteStream; closing
// ours first makes some (GStreamer's rtmp2sink) fail with "connection closed
// remotely". Wait briefly for its FIN, discarding anything after the end.
// Stop() shuts the socket down, which ends the wait at once.
void Connection::AwaitPublisherClose() {
  const int64_t deadline_us = MonotonicMicros() + kPublisherCloseGraceMs * 1000;
  char discard[4096];
  while (!stopping_.load()) {
    int64_t left_ms = (deadline_us - MonotonicMicros()) / 1000;
    if (left_ms <= 0) return;
    pollfd p{socket_.Get(), POLLIN, 0};
    int ready = poll(&p, 1, static_cast<int>(left_ms));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return;
    ssize_t n = recv(socket_.Get(), discard, sizeof(discard), MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return;
  }
}

int Connection::ReadPacket(AVFormatContext* input, PacketPtr* packet, int64_t* read_at_us) {
  packet->reset(av_packet_alloc());
  if (!*packet) return AVERROR(ENOMEM);
  int ret = av_read_frame(input, packet->get());
  if (ret < 0) return ret;
  *read_at_us = MonotonicMicros();
  ArmIdleDeadline();
  GiveVideoDuration(input->streams[(*packet)->stream_index], packet->get());
  // Handed over to JS, the packet's memory comes from the pool, so it is
  // reused once JS collects the Buffer; a copy otherwise.
  if ((*packet)->size >= kCopyBelowBytes && shared_->pool->Adopt(packet->get())) return 0;
  if (!(*packet)->buf && av_packet_make_refcounted(packet->get()) < 0) return AVERROR(ENOMEM);
  return 0;
}

int Connection::StartSession(AVFormatContext* input, std::vector<StreamProbe>* probes) {
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

  Event session = NewEvent(Event::Kind::Session);
  for (unsigned i = 0; i < input->nb_streams; i++) {
    if (i >= probes->size()) probes->emplace_back(input->streams[i]);
    session.streams.push_back((*probes)[i].Describe(input->streams[i]));
  }
  session.metadata = ReadMetadata(input);
  input->event_flags &= ~AVFMT_EVENT_FLAG_METADATA_UPDATED;
  sinks_.Begin(input, session.streams);
  shared_->queue->Push(std::move(session));
  for (auto& [packet, read_at_us] : held) PushPacket(std::move(packet), read_at_us);
  return read_error;
}

int Connection::ReadAndPush(AVFormatContext* input, std::vector<StreamProbe>* probes) {
  PacketPtr packet;
  int64_t read_at_us = 0;
  if (int ret = ReadPacket(input, &packet, &read_at_us); ret < 0) return ret;
  while (probes->size() < input->nb_streams) {
    // A stream that starts after the session: announced before its first packet.
    size_t index = probes->size();
    probes->emplace_back(input->streams[index]);
    if (static_cast<size_t>(packet->stream_index) == index) probes->back().Feed(packet.get());
    Event stream = NewEvent(Event::Kind::Stream);
    stream.streams.push_back(probes->back().Describe(input->streams[index]));
    sinks_.AddStream(input, static_cast<unsigned>(index), stream.streams.back());
    shared_->queue->Push(std::move(stream));
  }
  if (input->event_flags & AVFMT_EVENT_FLAG_METADATA_UPDATED) {
    input->event_flags &= ~AVFMT_EVENT_FLAG_METADATA_UPDATED;
    Event metadata = NewEvent(Event::Kind::Metadata);
    metadata.metadata = ReadMetadata(input);
    shared_->queue->Push(std::move(metadata));
  }
  PushPacket(std::move(packet), read_at_us);
  return 0;
}

void Connection::EndSession(int averror, int stream_error) {
  sinks_.End();
  Event end = NewEvent(Event::Kind::End);
  end.undelivered = Undelivered();
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
    end.reason = "error";
    switch (PeerState(socket_.Get())) {
      case ConnectionState::Closed:
        end.error = ErrorInfo{"EIO", "the publisher closed the connection in the middle of a message",
                              AVERROR(EIO)};
        break;
      case ConnectionState::Reset:
        end.error = ErrorInfo{"ECONNRESET",
                              "the publisher reset the connection before it ended its stream: "
                              "whatever it had not yet sent is lost",
                              AVERROR(ECONNRESET)};
        break;
      case ConnectionState::Open:
        end.error = ErrorFromAverror(averror, "reading the stream");
        break;
    }
  }
  shared_->queue->Push(std::move(end));
}

}  // namespace rtmp_ingest
