#include "webhooks/signing.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <array>
#include <optional>

namespace ablo::webhooks {

namespace {

constexpr std::string_view kSecretPrefix = "whsec_";

std::string base64_encode(const unsigned char* data, std::size_t size) {
  std::string out(4 * ((size + 2) / 3), '\0');
  const int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
  out.resize(static_cast<std::size_t>(written));
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0) return std::nullopt;
  std::string out(3 * text.size() / 4, '\0');
  const int written = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                      reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (written < 0) return std::nullopt;
  // EVP_DecodeBlock counts the padding as zero bytes: drop them.
  std::size_t size = static_cast<std::size_t>(written);
  if (text.ends_with("==")) size -= 2;
  else if (text.ends_with("=")) size -= 1;
  out.resize(size);
  return out;
}

}  // namespace

std::string new_secret() {
  std::array<unsigned char, 32> key{};
  if (RAND_bytes(key.data(), static_cast<int>(key.size())) != 1) std::abort();  // no entropy: nothing is safe
  return std::string(kSecretPrefix) + base64_encode(key.data(), key.size());
}

Result<std::string> mac_base64(std::string_view key, std::string_view message_id, int64_t timestamp,
                               std::string_view body) {
  std::string signed_text;
  signed_text.reserve(message_id.size() + body.size() + 24);
  signed_text.append(message_id).append(".").append(std::to_string(timestamp)).append(".").append(body);
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int mac_size = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
            reinterpret_cast<const unsigned char*>(signed_text.data()), signed_text.size(), mac.data(), &mac_size)) {
    return fail("internal_error", "HMAC-SHA256 failed");
  }
  return base64_encode(mac.data(), mac_size);
}

Result<std::string> sign(std::string_view secret, std::string_view message_id, int64_t timestamp,
                         std::string_view body) {
  if (!secret.starts_with(kSecretPrefix)) return fail("invalid_request", "a webhook secret starts with whsec_");
  auto key = base64_decode(secret.substr(kSecretPrefix.size()));
  if (!key) return fail("invalid_request", "a webhook secret is whsec_ followed by base64");
  return mac_base64(*key, message_id, timestamp, body);
}

Result<std::string> signature_header(const std::vector<std::string>& secrets, std::string_view message_id,
                                     int64_t timestamp, std::string_view body) {
  std::string header;
  for (const auto& secret : secrets) {
    auto signature = sign(secret, message_id, timestamp, body);
    if (!signature) return tl::unexpected(signature.error());
    if (!header.empty()) header += ' ';
    header += "v1," + *signature;
  }
  return header;
}

}  // namespace ablo::webhooks
