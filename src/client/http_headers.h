#pragma once
// Response headers as both transports hand them over: names lowercased (HTTP field names are
// case-insensitive), values as sent. Internal to the client module.
#include <cctype>
#include <map>
#include <string>
#include <string_view>

namespace ablo::client::http_headers {

// A Beast header (http::fields or a message) → {lowercased name: value}; a repeated field keeps its last value.
template <class Fields>
std::map<std::string, std::string> lowercased(const Fields& fields) {
  std::map<std::string, std::string> headers;
  for (const auto& field : fields) {
    std::string name(field.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    headers[std::move(name)] = std::string(field.value());
  }
  return headers;
}

}  // namespace ablo::client::http_headers
