#include "cli/schema_file.h"

#include <fstream>
#include <sstream>

#include <boost/json.hpp>

namespace ablo::cli {

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return fail("invalid_request", "cannot read " + path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

Result<boost::json::value> read_schema_file(const std::string& path) {
  auto text = read_file(path);
  if (!text) return tl::unexpected(text.error());
  boost::system::error_code ec;
  auto parsed = boost::json::parse(*text, ec);
  if (ec) return fail("invalid_schema", path + " is not valid JSON: " + ec.message());
  if (parsed.is_object() && parsed.as_object().contains("schema")) return parsed.as_object().at("schema");
  return parsed;
}

}  // namespace ablo::cli
