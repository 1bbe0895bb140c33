#pragma once
// A free loopback port for a server a test starts and may restart on the same port (a private
// PostgreSQL or Redis). Taken from below the kernel's ephemeral range: a port from bind(0) is
// one the kernel also hands out as the source port of outgoing connections, so while such a
// server starts — or is down inside a fault test — any test's client socket can take it and the
// server fails to bind ("could not start server"). Ports below the range are only ever taken by
// explicit binds; random choice plus a bind check keeps parallel tests apart.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <stdexcept>

namespace ablo::testing {

inline bool loopback_port_is_free(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  const bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  ::close(fd);
  return free;
}

inline int free_loopback_port_below_ephemeral_range() {
  int ephemeral_low = 32768;
  std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
  range >> ephemeral_low;
  const int low = ephemeral_low > 12000 ? ephemeral_low - 10000 : 1024;
  const int high = ephemeral_low > low + 1 ? ephemeral_low - 1 : 65535;
  std::random_device seed;
  std::mt19937 random(seed());
  std::uniform_int_distribution<int> pick(low, high);
  for (int attempt = 0; attempt < 200; ++attempt) {
    const int port = pick(random);
    if (loopback_port_is_free(port)) return port;
  }
  throw std::runtime_error("no free loopback port below the ephemeral range");
}

}  // namespace ablo::testing
