#pragma once
// API key and token format (protocol.md §6.1): <prefix>_<env>_<body>.
// New keys have a 30-char base62 body plus a 6-char base62 CRC-32 checksum.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ablo::auth {

enum class KeyPrefix { kSecret /*sk*/, kRestricted /*rk*/, kEphemeral /*ek*/, kPublishable /*pk*/ };
enum class KeyEnv { kLive, kTest };

struct ParsedKey {
  KeyPrefix prefix;
  KeyEnv env;
  std::string body;
  bool checksummed = false;  // body was 36 base62 chars with a valid checksum
};

std::string_view to_string(KeyPrefix prefix);  // "sk", "rk", ...
std::string_view to_string(KeyEnv env);        // "live", "test"

// Standard reflected CRC-32 (poly 0xEDB88320, init/xorout 0xFFFFFFFF).
uint32_t crc32(std::string_view data);
// CRC-32 of text in base62, most-significant digit first, left-padded with '0' to 6 chars.
std::string checksum62(std::string_view text);

// Makes a new checksummed key: <prefix>_<env>_<30 random base62><6 checksum>.
std::string generate_key(KeyPrefix prefix, KeyEnv env);

// Parses a key string. Rejects (nullopt): unknown prefix/env, empty body, body characters
// outside [0-9A-Za-z_-], and a 36-char base62 body whose checksum does not match.
// Any other well-formed body is accepted as the legacy (unchecksummed) format.
std::optional<ParsedKey> parse_key(std::string_view key);

// SHA-256 hex of the full plaintext key (how keys and tokens are stored).
std::string sha256_hex(std::string_view text);
// The display prefix: the first 12 characters.
std::string display_prefix(std::string_view key);

}  // namespace ablo::auth
