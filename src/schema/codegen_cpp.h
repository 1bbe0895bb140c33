#pragma once
// `ablo generate --lang cpp`: typed C++ models of a schema for the native client library
// (docs/client-library.md §17). One self-contained header: a struct per model with its
// boost::json mapping, an enum class per enum field, the schema text and hash, and a Client
// subclass with one accessor per model. Pure: the same schema and options give the same bytes
// (a golden test holds it to that).
#include <string>
#include <string_view>

#include "schema/schema.h"

namespace ablo::schema {

struct CppOptions {
  std::string namespace_name = "ablo_gen";  // may be nested: "acme::models"
};

// True for a C++ namespace name (identifiers joined by "::", no keyword), as --namespace takes.
bool is_cpp_namespace(std::string_view name);

std::string generate_cpp(const Schema& schema, const CppOptions& options = {});

}  // namespace ablo::schema
