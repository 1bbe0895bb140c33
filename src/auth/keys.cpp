#include "auth/keys.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <stdexcept>

#include "common/hex.h"
#include "common/random.h"

namespace ablo::auth {

namespace {

constexpr std::size_t kRandomBodyLength = 30;
constexpr std::size_t kChecksumLength = 6;

bool is_base62(char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
bool is_body_char(char c) { return is_base62(c) || c == '_' || c == '-'; }

std::optional<KeyPrefix> parse_prefix(std::string_view text) {
  if (text == "sk") return KeyPrefix::kSecret;
  if (text == "rk") return KeyPrefix::kRestricted;
  if (text == "ek") return KeyPrefix::kEphemeral;
  if (text == "pk") return KeyPrefix::kPublishable;
  return std::nullopt;
}

}  // namespace

std::string_view to_string(KeyPrefix prefix) {
  switch (prefix) {
    case KeyPrefix::kSecret: return "sk";
    case KeyPrefix::kRestricted: return "rk";
    case KeyPrefix::kEphemeral: return "ek";
    case KeyPrefix::kPublishable: return "pk";
  }
  return "sk";
}

std::string_view to_string(KeyEnv env) { return env == KeyEnv::kLive ? "live" : "test"; }

uint32_t crc32(std::string_view data) {
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char byte : data) {
    crc ^= byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return crc ^ 0xFFFFFFFFu;
}

std::string checksum62(std::string_view text) {
  // 62^6 > 2^32, so six digits always hold the full CRC.
  uint64_t value = crc32(text);
  std::string digits(kChecksumLength, '0');
  for (std::size_t i = kChecksumLength; i-- > 0 && value > 0;) {
    digits[i] = kBase62Alphabet[value % 62];
    value /= 62;
  }
  return digits;
}

std::string generate_key(KeyPrefix prefix, KeyEnv env) {
  std::string key = std::string(to_string(prefix)) + "_" + std::string(to_string(env)) + "_" +
                    random_base62(kRandomBodyLength);
  return key + checksum62(key);
}

std::optional<ParsedKey> parse_key(std::string_view key) {
  // Only the first two underscores delimit; the body itself may contain '_'.
  const auto first = key.find('_');
  if (first == std::string_view::npos) return std::nullopt;
  const auto second = key.find('_', first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  auto prefix = parse_prefix(key.substr(0, first));
  const auto env_text = key.substr(first + 1, second - first - 1);
  if (!prefix || (env_text != "live" && env_text != "test")) return std::nullopt;
  const auto body = key.substr(second + 1);
  if (body.empty()) return std::nullopt;
  for (char c : body) {
    if (!is_body_char(c)) return std::nullopt;
  }
  ParsedKey parsed{*prefix, env_text == "live" ? KeyEnv::kLive : KeyEnv::kTest, std::string(body), false};
  const bool checksummed_shape = body.size() == kRandomBodyLength + kChecksumLength &&
                                 std::all_of(body.begin(), body.end(), is_base62);
  if (checksummed_shape) {
    const auto signed_part = key.substr(0, second + 1 + kRandomBodyLength);
    if (checksum62(signed_part) != body.substr(kRandomBodyLength)) return std::nullopt;
    parsed.checksummed = true;
  }
  return parsed;
}

std::string sha256_hex(std::string_view text) {
  // Fetched once: EVP_sha256() makes every EVP_Digest look the implementation up in the
  // provider again, which cost more than hashing a commit's fingerprint (OpenSSL 3).
  static EVP_MD* const fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  const EVP_MD* md = fetched ? fetched : EVP_sha256();
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  if (EVP_Digest(text.data(), text.size(), digest.data(), &length, md, nullptr) != 1) {
    throw std::runtime_error("SHA-256 digest failed");
  }
  return hex_encode(std::string_view(reinterpret_cast<const char*>(digest.data()), length));
}

std::string display_prefix(std::string_view key) { return std::string(key.substr(0, 12)); }

}  // namespace ablo::auth
