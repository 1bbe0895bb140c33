#pragma once
// RESP2, the Redis wire protocol: commands go out as arrays of bulk strings, replies come
// back as a tree of typed values. Only what a client needs: encoding commands and an
// incremental reply parser that accepts the byte stream cut at any point (a socket read
// returns whatever arrived).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace ablo::redis {

struct Reply {
  // RESP2 has one null for both "$-1" (null bulk string) and "*-1" (null array); both parse to null.
  enum class Type { simple, error, integer, bulk, null, array };
  Type type = Type::null;
  std::string text;             // simple, error, bulk
  int64_t integer = 0;          // integer
  std::vector<Reply> elements;  // array
};

// A command as a RESP array of bulk strings ("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"); arguments may hold any bytes.
std::string encode_command(const std::vector<std::string>& args);

// Incremental: feed() any split of the byte stream, then next() until it yields nullopt.
// Partly received arrays are kept as parsed so far, so no byte is parsed twice. After a
// protocol violation the stream cannot be resynchronized: next() keeps returning the error.
class ReplyParser {
 public:
  void feed(std::string_view bytes);
  // The next complete reply, nullopt when more bytes are needed, or an error (code
  // "internal_error", message starting "redis: ") on a protocol violation.
  Result<std::optional<Reply>> next();

 private:
  struct Frame {
    Reply array;
    int64_t remaining = 0;  // elements still to come
  };
  // One step of parsing. False when more bytes are needed; true when bytes were consumed,
  // with `value` set when that finished a value (a scalar, a null, or an empty array).
  Result<bool> read_value(std::optional<Reply>& value);
  Result<bool> read_bulk_body(std::optional<Reply>& value);
  // One header line ("+OK", "$5", ...) without its CRLF; nullopt while incomplete.
  Result<std::optional<std::string_view>> line();
  // Adds a finished value to the innermost open array; returns the outermost reply once complete.
  std::optional<Reply> complete(Reply value);
  tl::unexpected<Error> violation(std::string what);

  std::string buffer_;
  std::size_t offset_ = 0;      // bytes of buffer_ already consumed
  std::size_t scanned_ = 0;     // how far past offset_ a CR has been looked for (resumes there)
  std::optional<int64_t> bulk_;  // length of a bulk string whose header was read, body pending
  std::vector<Frame> open_;     // arrays being filled, outermost first
  std::optional<Error> failed_;
};

}  // namespace ablo::redis
