// A server: the listening socket, the thread that accepts on it, and the
// connections it accepted, each on a thread of its own (connection.h). The
// accept thread turns away connections over maxConnections at once and
// joins connections whose threads have finished.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>

#include "connection.h"
#include "errors.h"
#include "events.h"
#include "ffmpeg_ptr.h"
#include "packet_pool.h"
#include "server_options.h"
#include "sink.h"

namespace rtmp_ingest {

struct BoundAddress {
  std::string host;
  int port = 0;
};

class Server {
 public:
  Server(ServerOptions options, EventQueue* queue);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens on the calling thread; nullopt and `error` on failure.
  std::optional<BoundAddress> Listen(ErrorInfo* error);
  // Starts the accept thread (after a successful Listen).
  void Start();
  // Calls on one connection; a connection that is gone is ignored.
  void Authorize(uint64_t connection, bool allow);
  void Release(uint64_t connection, int64_t bytes);
  void Disconnect(uint64_t connection);
  void DeliverPackets(uint64_t connection, bool deliver);
  std::optional<PacketCounts> Undelivered(uint64_t connection);
  // Adds the sink `make` builds to a connection's session and starts it;
  // its id, or 0 when the connection is gone.
  uint64_t AddSink(uint64_t connection,
                   const std::function<std::shared_ptr<Sink>(uint64_t id, const SinkContext& context)>& make);
  // Calls on one sink; a sink that is gone is ignored (nullopt).
  void StopSink(uint64_t sink);
  std::optional<SinkStats> StatsOfSink(uint64_t sink);
  // Stops accepting, interrupts every connection and joins every thread. Idempotent.
  void Stop();

 private:
  void Run();
  // Waits for a connection; false when stopping or on a fatal socket error.
  bool Accept(UniqueFd* socket, Peer* peer, std::optional<ErrorInfo>* fatal);
  void Admit(UniqueFd socket, Peer peer);
  void JoinFinished();
  void Wake();
  template <typename F>
  void WithConnection(uint64_t id, F&& f);

  ServerOptions options_;
  EventQueue* queue_;
  UniqueFd listen_fd_;
  UniqueFd wake_fd_;  // eventfd: Stop() and finished connections wake the accept thread
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  uint64_t next_id_ = 0;  // accept thread only

  // Connections share these; declared before the table so they outlive it.
  PacketPool pool_;
  AddressCounts addresses_;
  ServerShared shared_;

  std::mutex mu_;  // guards connections_
  std::unordered_map<uint64_t, std::unique_ptr<Connection>> connections_;
  // Sinks outlive their connection while they finish (a relay sending what
  // it holds); joined like connections.
  SinkContext sink_context_;
  uint64_t next_sink_id_ = 0;  // guarded by mu_
  std::unordered_map<uint64_t, std::shared_ptr<Sink>> sinks_;  // guarded by mu_
};

}  // namespace rtmp_ingest
