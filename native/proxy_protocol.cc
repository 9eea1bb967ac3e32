#include "proxy_protocol.h"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <sstream>
#include <vector>

#include "events.h"

namespace rtmp_ingest {

namespace {

constexpr uint8_t kV2Signature[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
// The spec's limit for a v1 line, CRLF included.
constexpr size_t kV1MaxBytes = 107;

ProxyHeader Invalid(std::string why) {
  ProxyHeader header;
  header.error = std::move(why);
  return header;
}

// Reads exactly `n` bytes; 0, or -1 with the header saying why.
int ReadExactly(int fd, uint8_t* to, size_t n, int64_t deadline_us, ProxyHeader* failed) {
  size_t got = 0;
  while (got < n) {
    int64_t left_ms = (deadline_us - MonotonicMicros() + 999) / 1000;
    if (left_ms <= 0) {
      failed->timed_out = true;
      failed->error = "no PROXY protocol header before the handshake timeout";
      return -1;
    }
    pollfd p{fd, POLLIN, 0};
    int ready = poll(&p, 1, static_cast<int>(left_ms));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;  // the deadline check above ends it
    ssize_t r = recv(fd, to + got, n - got, MSG_DONTWAIT);
    if (r > 0) {
      got += static_cast<size_t>(r);
    } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
      failed->error = "the connection closed in its PROXY protocol header";
      return -1;
    }
  }
  return 0;
}

bool ParsePort(const std::string& text, int* port) {
  if (text.empty() || text.size() > 5 || text.find_first_not_of("0123456789") != std::string::npos) return false;
  *port = std::stoi(text);
  return *port <= 65535;
}

// A v1 line without its CRLF: "PROXY TCP4 203.0.113.7 10.0.0.1 56324 1935".
ProxyHeader ParseProxyV1(const std::string& line) {
  std::istringstream fields(line);
  std::string proxy, family, source, destination, source_port, destination_port, extra;
  fields >> proxy >> family;
  if (proxy != "PROXY") return Invalid("not a PROXY protocol header");
  ProxyHeader header;
  if (family == "UNKNOWN") {
    header.ok = true;
    return header;
  }
  if (family != "TCP4" && family != "TCP6") return Invalid("PROXY v1: unknown protocol family '" + family + "'");
  if (!(fields >> source >> destination >> source_port >> destination_port) || (fields >> extra))
    return Invalid("PROXY v1: expected 'PROXY TCP4|TCP6 source destination sport dport'");
  unsigned char parsed[16];
  int af = family == "TCP4" ? AF_INET : AF_INET6;
  int port = 0, ignored = 0;
  if (inet_pton(af, source.c_str(), parsed) != 1 || inet_pton(af, destination.c_str(), parsed) != 1)
    return Invalid("PROXY v1: an address is not a valid " + family + " address");
  if (!ParsePort(source_port, &port) || !ParsePort(destination_port, &ignored)) return Invalid("PROXY v1: invalid port");
  header.ok = true;
  header.source = ProxySource{source, port};
  return header;
}

// A v2 header: the 16 fixed bytes, then `length` bytes of addresses and TLVs.
ProxyHeader ParseProxyV2(const uint8_t* fixed, const uint8_t* body, size_t length) {
  if (std::memcmp(fixed, kV2Signature, sizeof kV2Signature) != 0) return Invalid("not a PROXY protocol header");
  uint8_t version = fixed[12] >> 4, command = fixed[12] & 0x0F;
  uint8_t family = fixed[13] >> 4, transport = fixed[13] & 0x0F;
  if (version != 2) return Invalid("PROXY v2: unsupported version " + std::to_string(version));
  ProxyHeader header;
  if (command == 0x0) {  // LOCAL: the balancer's own connection (health checks)
    header.ok = true;
    return header;
  }
  if (command != 0x1) return Invalid("PROXY v2: unknown command " + std::to_string(command));
  if (family == 0x0 || transport != 0x1) {  // UNSPEC or not over TCP: keep the connection's peer
    header.ok = true;
    return header;
  }
  char text[INET6_ADDRSTRLEN] = {0};
  if (family == 0x1) {  // IPv4: src 4, dst 4, sport 2, dport 2
    if (length < 12) return Invalid("PROXY v2: IPv4 addresses truncated");
    inet_ntop(AF_INET, body, text, sizeof text);
    header.source = ProxySource{text, (body[8] << 8) | body[9]};
  } else if (family == 0x2) {  // IPv6: src 16, dst 16, sport 2, dport 2
    if (length < 36) return Invalid("PROXY v2: IPv6 addresses truncated");
    inet_ntop(AF_INET6, body, text, sizeof text);
    header.source = ProxySource{text, (body[32] << 8) | body[33]};
  } else if (family != 0x3) {  // 0x3: AF_UNIX, no address to report
    return Invalid("PROXY v2: unknown address family " + std::to_string(family));
  }
  header.ok = true;
  return header;
}

}  // namespace

ProxyHeader ReadProxyHeader(int fd, int64_t deadline_us) {
  ProxyHeader failed;
  uint8_t first = 0;
  if (ReadExactly(fd, &first, 1, deadline_us, &failed) < 0) return failed;
  if (first == 'P') {
    std::string line(1, 'P');
    while (line.size() < kV1MaxBytes) {
      uint8_t c = 0;
      if (ReadExactly(fd, &c, 1, deadline_us, &failed) < 0) return failed;
      line.push_back(static_cast<char>(c));
      if (line.size() >= 2 && line.compare(line.size() - 2, 2, "\r\n") == 0) {
        line.resize(line.size() - 2);
        return ParseProxyV1(line);
      }
    }
    return Invalid("PROXY v1: no CRLF within 107 bytes");
  }
  if (first != kV2Signature[0]) return Invalid("the connection did not start with a PROXY protocol header");
  uint8_t fixed[16] = {first};
  if (ReadExactly(fd, fixed + 1, sizeof fixed - 1, deadline_us, &failed) < 0) return failed;
  if (std::memcmp(fixed, kV2Signature, sizeof kV2Signature) != 0)
    return Invalid("the connection did not start with a PROXY protocol header");
  size_t length = (static_cast<size_t>(fixed[14]) << 8) | fixed[15];
  std::vector<uint8_t> body(length);
  if (length > 0 && ReadExactly(fd, body.data(), length, deadline_us, &failed) < 0) return failed;
  return ParseProxyV2(fixed, body.data(), length);
}

}  // namespace rtmp_ingest
