#include "server.h"

#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "ffmpeg_log.h"

extern "C" {
#include <libavutil/log.h>
}

namespace rtmp_ingest {

namespace {

// Connections the kernel may hold completed but not yet accepted.
constexpr int kListenBacklog = 511;

void DescribeAddress(const sockaddr* addr, socklen_t len, std::string* host, int* port) {
  char text[NI_MAXHOST] = {0};
  char serv[NI_MAXSERV] = {0};
  if (getnameinfo(addr, len, text, sizeof(text), serv, sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
    *host = text;
    *port = std::atoi(serv);
  }
}

}  // namespace

Server::Server(ServerOptions options, EventQueue* queue) : options_(std::move(options)), queue_(queue) {
  shared_.options = &options_;
  shared_.queue = queue_;
  shared_.pool = &pool_;
  shared_.addresses = &addresses_;
  shared_.on_finished = [this] { Wake(); };
  sink_context_.queue = queue_;
  sink_context_.log_level = options_.log_level;
  sink_context_.on_finished = [this] { Wake(); };
}

Server::~Server() { Stop(); }

std::optional<BoundAddress> Server::Listen(ErrorInfo* error) {
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
  BoundAddress bound;
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
    if (options_.reuse_port && setsockopt(fd.Get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) {
      last_errno = errno;
      failed_step = "SO_REUSEPORT";
      continue;
    }
    if (bind(fd.Get(), ai->ai_addr, ai->ai_addrlen) < 0) {
      last_errno = errno;
      failed_step = "bind";
      continue;
    }
    if (listen(fd.Get(), kListenBacklog) < 0) {
      last_errno = errno;
      failed_step = "listen";
      continue;
    }
    sockaddr_storage local{};
    socklen_t local_len = sizeof(local);
    getsockname(fd.Get(), reinterpret_cast<sockaddr*>(&local), &local_len);
    DescribeAddress(reinterpret_cast<sockaddr*>(&local), local_len, &bound.host, &bound.port);
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
  return bound;
}

void Server::Start() {
  InstallLogCallback(options_.log_level);
  thread_ = std::thread(&Server::Run, this);
}

template <typename F>
void Server::WithConnection(uint64_t id, F&& f) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = connections_.find(id);
  if (it != connections_.end()) f(*it->second);
}

void Server::Authorize(uint64_t connection, bool allow) {
  WithConnection(connection, [&](Connection& c) { c.Authorize(allow); });
}

void Server::Release(uint64_t connection, int64_t bytes) {
  WithConnection(connection, [&](Connection& c) { c.Release(bytes); });
}

void Server::Disconnect(uint64_t connection) {
  WithConnection(connection, [&](Connection& c) { c.Disconnect(); });
}

void Server::DeliverPackets(uint64_t connection, bool deliver) {
  WithConnection(connection, [&](Connection& c) { c.DeliverPackets(deliver); });
}

std::optional<PacketCounts> Server::Undelivered(uint64_t connection) {
  std::optional<PacketCounts> counts;
  WithConnection(connection, [&](Connection& c) { counts = c.Undelivered(); });
  return counts;
}

uint64_t Server::AddSink(uint64_t connection,
                         const std::function<std::shared_ptr<Sink>(uint64_t id, const SinkContext& context)>& make) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_.load()) return 0;
  auto it = connections_.find(connection);
  if (it == connections_.end()) return 0;
  uint64_t id = ++next_sink_id_;
  std::shared_ptr<Sink> sink = make(id, sink_context_);
  sinks_.emplace(id, sink);
  sink->Start();
  it->second->sinks().Add(std::move(sink));
  return id;
}

void Server::StopSink(uint64_t sink) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sinks_.find(sink);
  if (it != sinks_.end()) it->second->Stop();
}

std::optional<SinkStats> Server::StatsOfSink(uint64_t sink) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sinks_.find(sink);
  if (it == sinks_.end()) return std::nullopt;
  return it->second->Stats();
}

void Server::Wake() {
  uint64_t one = 1;
  ssize_t ignored = write(wake_fd_.Get(), &one, sizeof(one));
  (void)ignored;
}

void Server::Stop() {
  if (stopping_.exchange(true)) {
    if (thread_.joinable()) thread_.join();
    return;
  }
  if (wake_fd_) Wake();
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, connection] : connections_) connection->Stop();
  }
  if (thread_.joinable()) thread_.join();
  // The accept thread is gone, so the table is ours alone now.
  std::unordered_map<uint64_t, std::unique_ptr<Connection>> connections;
  {
    std::lock_guard<std::mutex> lock(mu_);
    connections.swap(connections_);
  }
  for (auto& [id, connection] : connections) connection->Join();
  connections.clear();
  // Every session has ended: recorders finish their files, relays stop.
  std::unordered_map<uint64_t, std::shared_ptr<Sink>> sinks;
  {
    std::lock_guard<std::mutex> lock(mu_);
    sinks.swap(sinks_);
  }
  for (auto& [id, sink] : sinks) sink->Stop();
  for (auto& [id, sink] : sinks) sink->Join();
  sinks.clear();
  listen_fd_.Reset();
  wake_fd_.Reset();
}

void Server::Run() {
  ScopedLogRoute log_route(queue_, options_.log_level, 0);
  std::optional<ErrorInfo> fatal;
  while (!stopping_.load()) {
    UniqueFd socket;
    Peer peer;
    if (!Accept(&socket, &peer, &fatal)) break;
    Admit(std::move(socket), std::move(peer));
  }
  if (!stopping_.load()) {
    Event stopped(Event::Kind::Stopped, 0);
    stopped.error = std::move(fatal);
    queue_->Push(std::move(stopped));
  }
}

void Server::Admit(UniqueFd socket, Peer peer) {
  uint64_t id = ++next_id_;
  std::lock_guard<std::mutex> lock(mu_);
  if (static_cast<int64_t>(connections_.size()) >= options_.max_connections) {
    Event rejected(Event::Kind::Rejected, id);
    rejected.reason = "too-many-connections";
    rejected.remote_address = peer.address;
    rejected.remote_port = peer.port;
    rejected.error = ErrorInfo{"ERR_TOO_MANY_CONNECTIONS",
                               "the server has " + std::to_string(options_.max_connections) +
                                   " connections open (maxConnections)",
                               0};
    queue_->Push(std::move(rejected));
    linger reset{1, 0};  // refused at once: a reset, not a lingering close
    setsockopt(socket.Get(), SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
    return;
  }
  // In the table before its thread runs: JS may answer its first event at once.
  auto connection = std::make_unique<Connection>(id, std::move(socket), std::move(peer), &shared_);
  Connection* started = connection.get();
  connections_.emplace(id, std::move(connection));
  started->Start();
}

void Server::JoinFinished() {
  std::vector<std::unique_ptr<Connection>> finished;
  std::vector<std::shared_ptr<Sink>> finished_sinks;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = sinks_.begin(); it != sinks_.end();) {
      if (it->second->finished()) {
        finished_sinks.push_back(std::move(it->second));
        it = sinks_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto it = connections_.begin(); it != connections_.end();) {
      if (it->second->finished()) {
        finished.push_back(std::move(it->second));
        it = connections_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& connection : finished) connection->Join();
  for (auto& sink : finished_sinks) sink->Join();
}

bool Server::Accept(UniqueFd* socket, Peer* peer, std::optional<ErrorInfo>* fatal) {
  while (!stopping_.load()) {
    pollfd fds[2] = {{listen_fd_.Get(), POLLIN, 0}, {wake_fd_.Get(), POLLIN, 0}};
    int ready = poll(fds, 2, -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      *fatal = ErrorFromErrno(errno, "poll");
      return false;
    }
    if (fds[1].revents) {
      uint64_t count;
      ssize_t ignored = read(wake_fd_.Get(), &count, sizeof(count));
      (void)ignored;
      if (stopping_.load()) return false;
      JoinFinished();
      continue;
    }
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
    socket->Reset(fd);
    DescribeAddress(reinterpret_cast<sockaddr*>(&addr), len, &peer->address, &peer->port);
    return true;
  }
  return false;
}

}  // namespace rtmp_ingest
