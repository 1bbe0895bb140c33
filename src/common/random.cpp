#include "common/random.h"

#include <array>
#include <cerrno>
#include <cstdint>
#include <random>
#include <stdexcept>

#include <sys/random.h>

#include "common/hex.h"

namespace ablo {

namespace {

void fill_random(void* buffer, std::size_t size) {
  auto* out = static_cast<unsigned char*>(buffer);
  while (size > 0) {
    const ssize_t n = getrandom(out, size, 0);
    if (n < 0) {
      if (errno == EINTR) continue;  // interrupted by a signal before any bytes were copied
      throw std::runtime_error("getrandom failed");
    }
    out += n;
    size -= static_cast<std::size_t>(n);
  }
}

}  // namespace

std::string random_base62(std::size_t length) {
  std::string out;
  out.reserve(length);
  std::array<unsigned char, 64> pool{};
  std::size_t used = pool.size();
  while (out.size() < length) {
    if (used == pool.size()) {
      fill_random(pool.data(), pool.size());
      used = 0;
    }
    const unsigned char byte = pool[used++];
    if (byte < 248) out.push_back(kBase62Alphabet[byte % 62]);  // 248 = 4*62: unbiased
  }
  return out;
}

std::string random_uuid() {
  std::array<unsigned char, 16> b{};
  fill_random(b.data(), b.size());
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
  // 8-4-4-4-12 lowercase hex, written directly rather than through snprintf's format parsing.
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < b.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    append_hex(out, b[i]);
  }
  return out;
}

std::string random_id(std::string_view prefix, std::size_t length) {
  std::string id(prefix);
  id.push_back('_');
  id += random_base62(length);
  return id;
}

}  // namespace ablo
