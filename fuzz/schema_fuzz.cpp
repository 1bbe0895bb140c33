// Schema JSON: schema::Schema::parse of the input; when it parses, every model validates the
// input's "sample" object (schema::validate_input, as a create and as an update), the schema
// is diffed against the environment's and rendered as OpenAPI.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <boost/json.hpp>

#include "schema/diff.h"
#include "schema/openapi.h"
#include "schema/schema.h"
#include "schema/validate.h"
#include "fuzz_schema.h"

namespace json = boost::json;


extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  boost::system::error_code ec;
  json::value parsed = json::parse(std::string_view(reinterpret_cast<const char*>(data), size), ec);
  if (ec) return 0;
  auto schema = ablo::schema::Schema::parse(parsed);
  if (!schema) return 0;
  static const json::object kEmpty;
  const json::object* sample = &kEmpty;
  if (parsed.is_object()) {
    if (const auto* s = parsed.as_object().if_contains("sample"); s && s->is_object()) sample = &s->as_object();
  }
  for (const auto& model : (*schema)->models()) {
    (void)ablo::schema::validate_input(model, *sample, ablo::schema::WriteKind::kCreate);
    (void)ablo::schema::validate_input(model, *sample, ablo::schema::WriteKind::kUpdate);
  }
  // Migrations from an empty schema and from the fuzz schema (every field type), with the
  // input's own hints (renames, backfills) when it carries valid ones.
  static const auto kBase = *ablo::schema::Schema::parse(json::parse(ablo::fuzz::kSchema));
  ablo::schema::MigrationHints hints;
  if (parsed.is_object()) {
    if (auto parsed_hints = ablo::schema::parse_migration_hints(parsed.as_object())) hints = *parsed_hints;
  }
  (void)ablo::schema::diff_schema(nullptr, **schema, hints);
  (void)ablo::schema::diff_schema(kBase.get(), **schema, hints);
  (void)ablo::schema::openapi_document(**schema);
  return 0;
}
