// One publisher's connection: its socket, its std::thread, its libavformat
// context (RTMP input in listen mode over the accepted socket, the "fd"
// option of our patched tcp protocol), its interrupt callback, deadline and
// byte budget. The thread reads the PROXY header if there is one, runs the
// RTMP handshake, asks JS to authorize the publisher, describes the streams
// and reads packets until the publisher leaves, times out or is dropped.
// Everything it learns goes to the server's EventQueue, tagged with the
// connection's id; JS answers through Authorize() and Release().
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "errors.h"
#include "events.h"
#include "ffmpeg_ptr.h"
#include "packet_pool.h"
#include "server_options.h"
#include "session_sinks.h"
#include "stream_probe.h"

namespace rtmp_ingest {

struct Peer {
  std::string address;
  int port = 0;
};

// How many connections each remote address has open (maxConnectionsPerAddress).
class AddressCounts {
 public:
  bool TryAdd(const std::string& address, int64_t limit);
  void Remove(const std::string& address);

 private:
  std::mutex mu_;
  std::unordered_map<std::string, int64_t> counts_;
};

// What a server's connections share; the server outlives them all.
struct ServerShared {
  const ServerOptions* options = nullptr;
  EventQueue* queue = nullptr;
  PacketPool* pool = nullptr;
  AddressCounts* addresses = nullptr;
  // Called by a connection's thread as its last act: the server joins it.
  std::function<void()> on_finished;
};

class Connection {
 public:
  Connection(uint64_t id, UniqueFd socket, Peer peer, const ServerShared* shared);
  ~Connection();  // stops and joins
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void Start();
  // The verdict on the publisher of this connection's Authorize event.
  void Authorize(bool allow);
  // JS consumed `bytes` of delivered packets.
  void Release(int64_t bytes);
  // Ends the session ('closed').
  void Disconnect();
  // Whether packets go to JS as well as to the sinks (lib/ turns this off
  // for a session whose packets only sinks take).
  void DeliverPackets(bool deliver) { deliver_packets_.store(deliver); }
  SessionSinks& sinks() { return sinks_; }
  PacketCounts Undelivered();
  // Interrupts whatever the thread is doing; Join() waits for it.
  void Stop();
  void Join();
  bool finished() const { return finished_.load(); }

 private:
  enum class Interrupt { None, Stopping, Deadline };

  void Run();
  void Serve();
  void Reject(const char* reason, std::optional<ErrorInfo> error);
  // Asks JS about the publisher; false when denied or stopping.
  bool Authorized(AVFormatContext* input);
  // av_read_frame, stamped with its read time; 0 or an AVERROR.
  int ReadPacket(AVFormatContext* input, PacketPtr* packet, int64_t* read_at_us);
  // Reads until the streams are described, then sends 'session' and the
  // packets read so far. 0 or the AVERROR that ended the reading.
  int StartSession(AVFormatContext* input, std::vector<StreamProbe>* probes);
  // One packet, announcing new streams and metadata before it.
  int ReadAndPush(AVFormatContext* input, std::vector<StreamProbe>* probes);
  InputPtr OpenInput();
  bool WaitForRoom();
  void EndSession(int averror, int stream_error);
  void AwaitPublisherClose();
  void PushPacket(PacketPtr packet, int64_t read_at_us);
  Event NewEvent(Event::Kind kind) const { return Event(kind, id_); }

  static int OnInterrupt(void* opaque);
  void ArmHandshakeDeadline();
  void ArmIdleDeadline();

  const uint64_t id_;
  UniqueFd socket_;
  Peer peer_;
  const ServerShared* shared_;
  const ServerOptions& options_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> finished_{false};
  std::atomic<bool> deliver_packets_{true};
  SessionSinks sinks_;

  // Touched only by the connection's thread (including from OnInterrupt).
  int64_t deadline_us_ = INT64_MAX;
  bool deadline_is_idle_ = false;  // data that TCP receives extends an idle deadline
  Interrupt interrupted_ = Interrupt::None;
  bool address_counted_ = false;
  bool announced_ = false;  // its 'connection' event went out: 'closed' ends it

  std::mutex mu_;  // guards what follows
  std::condition_variable cv_;
  bool socket_open_ = true;  // false once the thread has closed the socket
  bool disconnecting_ = false;
  std::optional<bool> verdict_;
  int64_t outstanding_bytes_ = 0;
  PacketCounts undelivered_;
};

}  // namespace rtmp_ingest
