// The reader: one listening socket and one std::thread per listener.
//
// The thread accepts a publisher itself (so listen() knows the port is
// listening, who connected, and when the handshake clock starts) and hands
// the connected socket to libavformat's RTMP input in listen mode (the "fd"
// option of our patched tcp protocol). It then asks JS to authorize the
// publisher, describes the streams, and reads packets until the publisher
// leaves, times out or the listener stops. Everything it learns goes to an
// EventQueue; JS answers through Authorize() and Release().
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "errors.h"
#include "events.h"
#include "ffmpeg_ptr.h"
#include "packet_pool.h"
#include "stream_probe.h"

struct sockaddr_storage;

namespace rtmp_ingest {

struct ReaderOptions {
  std::string host;
  int port = 1935;
  std::string app;
  std::string stream_key;
  bool keep_alive = true;
  int64_t high_water_mark_bytes = 32 << 20;
  int64_t handshake_timeout_ms = 5000;
  int64_t idle_timeout_ms = 10000;
  int64_t probe_ms = 200;
  int log_level = 16;  // AV_LOG_ERROR
};

struct BoundAddress {
  std::string host;
  int port = 0;
};

class Reader {
 public:
  Reader(ReaderOptions options, EventQueue* queue);
  ~Reader();
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  // Binds and listens on the calling thread; nullopt and `error` on failure.
  std::optional<BoundAddress> Listen(ErrorInfo* error);
  // Starts the reader thread (after a successful Listen).
  void Start();
  // The verdict on the publisher of an Authorize event.
  void Authorize(uint64_t ticket, bool allow);
  // JS consumed `bytes` of delivered packets.
  void Release(int64_t bytes);
  // Ends the current publisher's session ('closed'); the listener goes on.
  void Disconnect();
  // Interrupts whatever the thread is doing and joins it. Idempotent.
  void Stop();

 private:
  enum class Interrupt { None, Stopping, Deadline };
  struct Peer {
    std::string address;
    int port = 0;
  };

  void Run();
  // Waits for a publisher; false when stopping or on a fatal socket error.
  bool Accept(UniqueFd* conn, Peer* peer, std::optional<ErrorInfo>* fatal);
  void Serve(UniqueFd conn, const Peer& peer);
  // Asks JS about the publisher; false when denied or stopping.
  bool Authorized(AVFormatContext* input, const Peer& peer);
  // av_read_frame, stamped with its read time; 0 or an AVERROR.
  int ReadPacket(AVFormatContext* input, PacketPtr* packet, int64_t* read_at_us);
  // Reads until the streams are described, then sends 'session' and the
  // packets read so far. 0 or the AVERROR that ended the reading.
  int StartSession(AVFormatContext* input, std::vector<StreamProbe>* probes);
  // One packet, announcing new streams and metadata before it.
  int ReadAndPush(AVFormatContext* input, std::vector<StreamProbe>* probes);
  InputPtr OpenInput(int fd, const Peer& peer);
  bool AwaitVerdict(uint64_t ticket);
  bool WaitForRoom();
  void EndSession(int averror, int stream_error, int fd);
  void AwaitPublisherClose(int fd);
  void PushPacket(PacketPtr packet, int64_t read_at_us);

  static int OnInterrupt(void* opaque);
  void ArmHandshakeDeadline();
  void ArmIdleDeadline();
  void RefuseWaitingPublishers(int64_t now_us);

  ReaderOptions options_;
  EventQueue* queue_;
  BoundAddress bound_;
  UniqueFd listen_fd_;
  UniqueFd wake_fd_;  // eventfd: wakes the accept poll on Stop()
  std::thread thread_;
  std::atomic<bool> stopping_{false};

  // Touched only by the reader thread (including from OnInterrupt).
  PacketPool packet_pool_;
  int64_t deadline_us_ = INT64_MAX;
  bool deadline_is_idle_ = false;  // data that TCP receives extends an idle deadline
  int64_t next_refusal_check_us_ = 0;
  Interrupt interrupted_ = Interrupt::None;
  bool serving_publisher_ = false;  // an authorized publisher is streaming
  uint64_t next_ticket_ = 0;

  std::mutex mu_;  // guards what follows
  std::condition_variable cv_;
  int active_fd_ = -1;  // the publisher's socket, shut down by Stop() and Disconnect()
  bool disconnecting_ = false;
  uint64_t pending_ticket_ = 0;
  std::optional<bool> verdict_;
  int64_t outstanding_bytes_ = 0;
};

}  // namespace rtmp_ingest
