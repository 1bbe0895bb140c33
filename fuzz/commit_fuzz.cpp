// Commit operations: the input is a WS commit payload. engine::parse_commit_payload, then
// schema::validate_input of every operation against its model, then the commit itself through
// the engine's writer (commit_sync, as the REST commit route does) with the secret key.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <boost/json.hpp>

#include "fuzz_env.h"
#include "schema/validate.h"

namespace json = boost::json;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto& env = ablo::fuzz::env();
  boost::system::error_code ec;
  json::value parsed = json::parse(std::string_view(reinterpret_cast<const char*>(data), size), ec);
  if (ec || !parsed.is_object()) return 0;
  auto request = ablo::engine::parse_commit_payload(parsed.as_object());
  if (!request) return 0;
  const auto schema = env.engine->schema();
  for (const auto& op : request->operations) {
    if (const auto* model = schema->resolve(op.model)) {
      (void)ablo::schema::validate_input(*model, op.input, op.type == ablo::engine::OpType::kCreate
                                                              ? ablo::schema::WriteKind::kCreate
                                                              : ablo::schema::WriteKind::kUpdate);
    }
  }
  request->principal = env.principal;
  (void)env.engine->commit_sync(std::move(*request));
  return 0;
}
