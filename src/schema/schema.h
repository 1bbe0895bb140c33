#pragma once
// Schema JSON v3 (schema.md §2): the parsed, validated, immutable model catalogue.
// A Schema is built once (on load or push) and shared read-only between threads.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "common/result.h"

namespace ablo::schema {

enum class FieldType { kString, kNumber, kBoolean, kDate, kEnum, kJson };
std::string_view to_string(FieldType type);

struct Field {
  std::string name;    // camelCase key as declared
  std::string column;  // physical column: FieldMeta.column or camel_to_snake(name)
  FieldType type = FieldType::kString;
  bool optional = false;
  bool indexed = false;
  std::vector<std::string> enum_values;
};

enum class RelationType { kBelongsTo, kHasMany, kHasOne };

struct Relation {
  std::string name;
  RelationType type = RelationType::kBelongsTo;
  std::string target;       // model key
  std::string foreign_key;  // field name
  bool parent = false;      // sync-group inheritance (§4.5)
  bool fk = false;
};

struct Role {
  std::string kind;   // ^[a-z][a-z0-9_]*$
  std::string field;  // source field
  bool multi = false;
};

enum class Load { kInstant, kLazy, kManual };

// What a write whose premise went stale does (0.49's onStale names; 0.9.1's force = overwrite,
// flag/merge = notify).
enum class StaleDisposition { kReject, kOverwrite, kNotify };
// A model's declared `conflict: {user?, agent?, system?}` (schema JSON v3 as 0.49 serializes
// it): the disposition of a participant kind's stale writes that name none themselves.
struct ConflictPolicy {
  std::optional<StaleDisposition> user, agent, system;
  bool declared = false;  // the model carried `conflict` at all
  std::optional<StaleDisposition> for_kind(std::string_view participant_kind) const;
};
std::string_view to_string(StaleDisposition disposition);
enum class TenancyKind { kColumn, kParent, kNone };

struct Model {
  std::string key;         // schema key, e.g. "weatherReports"
  std::string typename_;   // wire name (delta modelName, bootstrap keys)
  std::string table;       // tableName or the key verbatim
  Load load = Load::kInstant;
  TenancyKind tenancy = TenancyKind::kColumn;
  std::string tenancy_column = "organization_id";
  bool control_plane = false;
  bool mutable_ = true;                 // absent => writable; only `mutable: false` is read-only (§6.2)
  std::optional<std::string> scope_kind;  // set when the model is a scope root (§1.9, T13)
  std::vector<Field> fields;            // declared order; base fields are not included
  std::vector<Relation> relations;
  std::vector<Role> entity_roles;
  std::optional<int64_t> bootstrap_limit;
  ConflictPolicy conflict;

  const Field* field(std::string_view name) const;
  // Resolves a query column given as camelCase field name, snake_case column, or a base field.
  // Returns the field name (camelCase) or nullopt.
  std::optional<std::string> resolve_column(std::string_view name) const;
};

class Schema {
 public:
  // Parses and validates schema JSON v3. Errors use code `invalid_schema` (or the specific
  // schema_* codes of schema.md §1.9) with a message naming the offending path.
  static Result<std::shared_ptr<const Schema>> parse(const boost::json::value& json);
  static Result<std::shared_ptr<const Schema>> parse_text(std::string_view text);
  static std::shared_ptr<const Schema> empty();

  const std::vector<Model>& models() const { return models_; }
  const std::vector<Role>& identity_roles() const { return identity_roles_; }
  // Canonical JSON text of the schema as pushed (stored and returned by GET /api/schema).
  const std::string& json_text() const { return json_text_; }
  // schemaHash (schema.md §2.4): FNV-1a over the canonical JSON's UTF-16 units, 8 hex digits.
  const std::string& hash() const { return hash_; }

  const Model* by_key(std::string_view key) const;
  // Resolves any wire form of a model name to its model (protocol.md §4.7): schema key,
  // typename, their lowercase forms, the typename lowercased with the first "Model" removed.
  const Model* resolve(std::string_view any_name) const;

 private:
  std::vector<Model> models_;
  std::vector<Role> identity_roles_;
  std::string json_text_;
  std::string hash_;
};

// camelToSnake of schema.md §3.2: each uppercase A-Z becomes '_' + lowercase.
std::string camel_to_snake(std::string_view name);
// Canonical JSON text: sorted keys, JavaScript number and string forms (schema.md §2.4).
// Also the fingerprint of a request body for idempotency.
std::string canonical_json(const boost::json::value& value);
// schemaHash of any JSON value (canonical JSON, UTF-16 FNV-1a), exposed for tests.
std::string schema_hash(const boost::json::value& json);

}  // namespace ablo::schema
