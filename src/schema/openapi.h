#pragma once
// The OpenAPI 3.1 document of the live schema (schema.md §5.1): one component per model
// (`Pascal(key)`: id plus every field, required = id and the non-optional fields), the model
// routes under /v1/models/<key>, the claim routes and /v1/commits.
#include <string>

#include <boost/json/object.hpp>

#include "schema/schema.h"

namespace ablo::schema {

struct OpenApiOptions {
  std::string title = "Ablo API";
  std::string version = "1.0.0";
  std::string server_url = "http://127.0.0.1:8787";
};

boost::json::object openapi_document(const Schema& schema, const OpenApiOptions& options = {});

}  // namespace ablo::schema
