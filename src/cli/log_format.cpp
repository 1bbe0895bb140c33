#include "cli/log_format.h"

#include <memory>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <spdlog/formatter.h>
#include <spdlog/spdlog.h>

#include "common/time.h"

namespace ablo::cli {

namespace {

void append_escaped(std::string_view text, spdlog::memory_buf_t& out) {
  for (const char c : text) {
    switch (c) {
      case '"': out.append(std::string_view("\\\"")); break;
      case '\\': out.append(std::string_view("\\\\")); break;
      case '\n': out.append(std::string_view("\\n")); break;
      case '\r': out.append(std::string_view("\\r")); break;
      case '\t': out.append(std::string_view("\\t")); break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          fmt::format_to(std::back_inserter(out), "\\u{:04x}", static_cast<int>(c));
        } else {
          out.push_back(c);
        }
    }
  }
}

// A leading "req_… " names the request the message is about.
std::string_view request_id_of(std::string_view& message) {
  if (message.substr(0, 4) != "req_") return {};
  const auto space = message.find(' ');
  if (space == std::string_view::npos) return {};
  auto id = message.substr(0, space);
  message.remove_prefix(space + 1);
  return id;
}

class JsonFormatter : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& out) override {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch()).count();
    std::string_view message(msg.payload.data(), msg.payload.size());
    const auto request_id = request_id_of(message);
    const auto level = spdlog::level::to_string_view(msg.level);
    fmt::format_to(std::back_inserter(out), R"({{"time":"{}","level":"{}","thread":{})", iso8601_from_ms(ms),
                   std::string_view(level.data(), level.size()), msg.thread_id);
    if (!request_id.empty()) fmt::format_to(std::back_inserter(out), R"(,"request_id":"{}")", request_id);
    out.append(std::string_view(R"(,"msg":")"));
    append_escaped(message, out);
    out.append(std::string_view("\"}\n"));
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};

}  // namespace

void use_json_logs() { spdlog::default_logger()->set_formatter(std::make_unique<JsonFormatter>()); }

}  // namespace ablo::cli
