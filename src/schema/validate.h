#pragma once
// Write validation (schema.md §6): what a commit op's `input` may contain.
#include <boost/json/object.hpp>

#include "common/result.h"
#include "schema/schema.h"

namespace ablo::schema {

enum class WriteKind { kCreate, kUpdate };

// Validates and normalizes an op's input against the model. Returns the cleaned object:
// server-owned keys (id, createdAt, updatedAt, organizationId, createdBy, archivedAt) are
// stripped, dates are normalized to ISO-8601 UTC strings (epoch-ms numbers accepted), and
// every remaining key is a declared field with a value of the right type (null allowed).
// Errors: code `validation_error`, param = field name, message naming the field and the
// problem (unknown field, wrong type, enum value not allowed, unparseable date).
// Missing required fields are accepted (a `.default()` field is serialized as required but
// the 0.9.1 client never fills it, §6.3).
Result<boost::json::object> validate_input(const Model& model, const boost::json::object& input, WriteKind kind);

// Row ids: non-empty, at most 255 bytes, no control characters.
Status validate_row_id(std::string_view id);

}  // namespace ablo::schema
