#include "redis/resp.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include <fmt/format.h>

namespace ablo::redis {

namespace {

// Redis itself caps bulk strings at 512 MB (proto-max-bulk-len); anything longer is a broken stream.
constexpr int64_t kMaxLength = int64_t{512} * 1024 * 1024;
// Header lines are a type byte and a number or a short status/error text; a longer one
// means the stream is not RESP, and bounding it bounds the buffer.
constexpr std::size_t kMaxLine = 64 * 1024;
// Real replies nest a few levels; the bound keeps a hostile stream from building a tree
// whose (recursive) destruction could overflow the stack.
constexpr std::size_t kMaxDepth = 64;
// Consumed bytes are dropped once they are this many and at least half the buffer, so each
// byte is moved at most about once (amortized linear).
constexpr std::size_t kCompactAt = 64 * 1024;

std::string describe_byte(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return std::isprint(byte) ? fmt::format("'{}'", c) : fmt::format("0x{:02x}", byte);
}

std::optional<int64_t> parse_int(std::string_view digits) {
  int64_t value = 0;
  const auto* end = digits.data() + digits.size();
  auto [ptr, ec] = std::from_chars(digits.data(), end, value);
  if (digits.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

}  // namespace

std::string encode_command(const std::vector<std::string>& args) {
  std::size_t size = 16;
  for (const auto& arg : args) size += arg.size() + 16;
  std::string out;
  out.reserve(size);
  out += fmt::format("*{}\r\n", args.size());
  for (const auto& arg : args) {
    out += fmt::format("${}\r\n", arg.size());
    out += arg;
    out += "\r\n";
  }
  return out;
}

void ReplyParser::feed(std::string_view bytes) {
  if (failed_) return;  // nothing after a violation can be parsed
  if (offset_ == buffer_.size()) {
    buffer_.clear();
    offset_ = 0;
  } else if (offset_ >= kCompactAt && offset_ * 2 >= buffer_.size()) {
    buffer_.erase(0, offset_);
    offset_ = 0;
  }
  buffer_.append(bytes);
}

Result<std::optional<Reply>> ReplyParser::next() {
  if (failed_) return tl::unexpected(*failed_);
  for (;;) {
    std::optional<Reply> value;
    auto progressed = bulk_ ? read_bulk_body(value) : read_value(value);
    if (!progressed) {
      failed_ = progressed.error();
      return tl::unexpected(*failed_);
    }
    if (!*progressed) return std::nullopt;
    if (value) {
      if (auto reply = complete(std::move(*value))) return reply;
    }
  }
}

Result<bool> ReplyParser::read_value(std::optional<Reply>& value) {
  if (offset_ >= buffer_.size()) return false;
  const char type = buffer_[offset_];
  if (type != '+' && type != '-' && type != ':' && type != '$' && type != '*') {
    return violation("unexpected type byte " + describe_byte(type));
  }
  auto header = line();
  if (!header) return tl::unexpected(header.error());
  if (!*header) return false;
  const std::string_view body = (*header)->substr(1);
  if (type == '+' || type == '-') {
    value = Reply{type == '+' ? Reply::Type::simple : Reply::Type::error, std::string(body), 0, {}};
    return true;
  }
  const auto number = parse_int(body);
  if (!number) return violation(fmt::format("bad number \"{}\" after {}", body, describe_byte(type)));
  if (type == ':') {
    value = Reply{Reply::Type::integer, {}, *number, {}};
    return true;
  }
  if (*number == -1) {
    value = Reply{};  // null bulk string or null array
    return true;
  }
  if (*number < 0 || *number > kMaxLength) {
    return violation(fmt::format("length {} after {} is out of range", *number, describe_byte(type)));
  }
  if (type == '$') {
    bulk_ = *number;
    return true;
  }
  if (*number == 0) {
    value = Reply{Reply::Type::array, {}, 0, {}};
    return true;
  }
  if (open_.size() >= kMaxDepth) return violation(fmt::format("arrays nested deeper than {}", kMaxDepth));
  Frame frame{Reply{Reply::Type::array, {}, 0, {}}, *number};
  // Reserve for what a plausible reply holds, not for what a length claims before its bytes arrived.
  frame.array.elements.reserve(static_cast<std::size_t>(std::min<int64_t>(*number, 1024)));
  open_.push_back(std::move(frame));
  return true;
}

Result<bool> ReplyParser::read_bulk_body(std::optional<Reply>& value) {
  const auto length = static_cast<std::size_t>(*bulk_);
  if (buffer_.size() - offset_ < length + 2) return false;
  if (buffer_[offset_ + length] != '\r' || buffer_[offset_ + length + 1] != '\n') {
    return violation(fmt::format("bulk string of {} bytes is not followed by CRLF", length));
  }
  value = Reply{Reply::Type::bulk, buffer_.substr(offset_, length), 0, {}};
  offset_ += length + 2;
  bulk_.reset();
  return true;
}

Result<std::optional<std::string_view>> ReplyParser::line() {
  const std::size_t end = buffer_.find_first_of("\r\n", offset_ + scanned_);
  if (end == std::string::npos || end + 1 == buffer_.size()) {
    // Incomplete (or a CR whose LF has not arrived): resume the search here next time.
    scanned_ = (end == std::string::npos ? buffer_.size() : end) - offset_;
    if (scanned_ > kMaxLine) return violation(fmt::format("header line longer than {} bytes", kMaxLine));
    return std::nullopt;
  }
  if (buffer_[end] != '\r' || buffer_[end + 1] != '\n') return violation("header line not terminated by CRLF");
  if (end - offset_ > kMaxLine) return violation(fmt::format("header line longer than {} bytes", kMaxLine));
  const std::string_view header(buffer_.data() + offset_, end - offset_);
  offset_ = end + 2;
  scanned_ = 0;
  return header;
}

std::optional<Reply> ReplyParser::complete(Reply value) {
  while (!open_.empty()) {
    Frame& innermost = open_.back();
    innermost.array.elements.push_back(std::move(value));
    if (--innermost.remaining > 0) return std::nullopt;
    value = std::move(innermost.array);
    open_.pop_back();
  }
  return value;
}

tl::unexpected<Error> ReplyParser::violation(std::string what) {
  return tl::unexpected(Error("internal_error", "redis: protocol error: " + what));
}

}  // namespace ablo::redis
