#include "net/dialect.h"

#include <charconv>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/format.h>

#include "common/json_number.h"

namespace ablo::net {

namespace {

Error unsupported_version(std::string_view announced) {
  return Error("protocol_version_unsupported",
               fmt::format("this server speaks sync protocol version {}; the client announced {}", kProtocolVersion,
                           announced));
}

bool starts_with(std::string_view text, std::string_view prefix) { return text.substr(0, prefix.size()) == prefix; }

}  // namespace

Result<Dialect> dialect_of(const HttpRequest& request) {
  const auto it = request.headers.find(std::string(kProtocolVersionHeader));
  if (it == request.headers.end()) return Dialect::kIntents;
  int version = 0;
  const auto& text = it->second;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), version);
  if (ec != std::errc() || end != text.data() + text.size() || version != kProtocolVersion) {
    return tl::unexpected(unsupported_version(text));
  }
  return Dialect::kClaims;
}

Result<std::optional<Dialect>> dialect_revealed_by(std::string_view type, const boost::json::object& payload) {
  if (type == "sync_request") {
    const auto* announced = payload.if_contains("protocolVersion");
    if (announced == nullptr || announced->is_null()) return Dialect::kIntents;
    const auto version = exact_int64(*announced);
    if (!version || *version != kProtocolVersion) {
      return tl::unexpected(unsupported_version(boost::json::serialize(*announced)));
    }
    return Dialect::kClaims;
  }
  if (starts_with(type, "claim_") || type == "update_subscription") return Dialect::kClaims;
  if (starts_with(type, "intent_")) return Dialect::kIntents;
  return std::optional<Dialect>();
}

}  // namespace ablo::net
