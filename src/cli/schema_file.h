#pragma once
// Reading the files the `ablo` subcommands take.
#include <string>

#include <boost/json/value.hpp>

#include "common/result.h"

namespace ablo::cli {

Result<std::string> read_file(const std::string& path);
// A schema file holds the schema JSON itself or a push body {schema: …}, as `ablo schema push`
// takes; returns the schema document.
Result<boost::json::value> read_schema_file(const std::string& path);

}  // namespace ablo::cli
