#include "schema/schema.h"

#include <algorithm>
#include <charconv>
#include <regex>
#include <unordered_map>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "common/json_member.h"
#include "common/json_number.h"

namespace ablo::schema {

namespace json = boost::json;

namespace {

const std::regex kKindPattern("^[a-z][a-z0-9_]*$");
const std::regex kIdentifierPattern("^[a-zA-Z_][a-zA-Z0-9_]*$");
const std::regex kColumnPattern("^[a-zA-Z_][a-zA-Z0-9_]{0,62}$");

std::string lower(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

tl::unexpected<Error> invalid(std::string message, std::string param, ErrorCode code = "invalid_schema") {
  return tl::unexpected<Error>(Error(code, std::move(message), std::move(param)));
}

bool bool_or(const json::object& o, std::string_view key, bool fallback) {
  const auto* v = o.if_contains(key);
  return v && v->is_bool() ? v->as_bool() : fallback;
}

Result<FieldType> parse_field_type(std::string_view text, const std::string& param) {
  if (text == "string") return FieldType::kString;
  if (text == "number") return FieldType::kNumber;
  if (text == "boolean") return FieldType::kBoolean;
  if (text == "date") return FieldType::kDate;
  if (text == "enum") return FieldType::kEnum;
  if (text == "json") return FieldType::kJson;
  return invalid(fmt::format("{}: unknown field type '{}' (expected string, number, boolean, date, enum or json)",
                             param, text),
                 param);
}

// schema.md §1.1: first character not uppercase, no two consecutive uppercase; `id` exempt.
Status check_field_name(const std::string& model_key, const std::string& name) {
  if (name == "id") return {};
  const std::string param = fmt::format("models.{}.fields.{}", model_key, name);
  if (name.empty()) return invalid("a field name must not be empty", param);
  if (std::isupper(static_cast<unsigned char>(name[0]))) {
    return invalid(fmt::format("field '{}' of model '{}' must start with a lowercase letter", name, model_key), param,
                   "schema_field_not_camelcase");
  }
  for (std::size_t i = 1; i < name.size(); ++i) {
    if (std::isupper(static_cast<unsigned char>(name[i])) && std::isupper(static_cast<unsigned char>(name[i - 1]))) {
      return invalid(fmt::format("field '{}' of model '{}' has two consecutive capitals (it would not survive "
                                 "a snake_case round trip)",
                                 name, model_key),
                     param, "schema_field_consecutive_caps");
    }
  }
  return {};
}

Result<Field> parse_field(const std::string& model_key, const std::string& name, const json::value& value) {
  const std::string param = fmt::format("models.{}.fields.{}", model_key, name);
  if (auto ok = check_field_name(model_key, name); !ok) return tl::unexpected(ok.error());
  if (!value.is_object()) return invalid(param + " must be an object", param);
  const auto& meta = value.as_object();
  const auto* type = meta.if_contains("type");
  if (!type || !type->is_string()) return invalid(param + ".type is required", param + ".type");
  auto parsed_type = parse_field_type(type->as_string(), param + ".type");
  if (!parsed_type) return tl::unexpected(parsed_type.error());
  Field field;
  field.name = name;
  field.type = *parsed_type;
  field.optional = bool_or(meta, "isOptional", false);
  field.indexed = bool_or(meta, "isIndexed", false);
  field.column = camel_to_snake(name);
  if (const auto* column = meta.if_contains("column"); column && !column->is_null()) {
    if (!column->is_string() || !std::regex_match(std::string(column->as_string()), kColumnPattern)) {
      return invalid(param + ".column must match ^[a-zA-Z_][a-zA-Z0-9_]{0,62}$", param + ".column");
    }
    field.column = std::string(column->as_string());
  }
  if (const auto* values = meta.if_contains("enumValues"); values && !values->is_null()) {
    if (!values->is_array()) return invalid(param + ".enumValues must be an array of strings", param + ".enumValues");
    for (const auto& v : values->as_array()) {
      if (!v.is_string()) return invalid(param + ".enumValues must be an array of strings", param + ".enumValues");
      field.enum_values.emplace_back(v.as_string());
    }
  }
  return field;
}

Result<Role> parse_role(const json::value& value, const std::string& param) {
  if (!value.is_object()) return invalid(param + " must be an object {kind, source}", param);
  const auto& o = value.as_object();
  Role role;
  role.kind = string_member(o, "kind");
  if (!std::regex_match(role.kind, kKindPattern)) return invalid(param + ".kind must match ^[a-z][a-z0-9_]*$", param + ".kind");
  const auto* source = o.if_contains("source");
  if (!source || !source->is_object()) return invalid(param + ".source must be {field, multi}", param + ".source");
  role.field = string_member(source->as_object(), "field");
  if (!std::regex_match(role.field, kIdentifierPattern)) {
    return invalid(param + ".source.field must be an identifier", param + ".source.field");
  }
  const auto* multi = source->as_object().if_contains("multi");
  if (multi && !multi->is_bool()) return invalid(param + ".source.multi must be a boolean", param + ".source.multi");
  role.multi = multi && multi->as_bool();
  return role;
}

Result<Relation> parse_relation(const std::string& model_key, const std::string& name, const json::value& value) {
  const std::string param = fmt::format("models.{}.relations.{}", model_key, name);
  if (!value.is_object()) return invalid(param + " must be an object", param);
  const auto& o = value.as_object();
  Relation relation;
  relation.name = name;
  const std::string type = string_member(o, "type");
  if (type == "belongsTo") relation.type = RelationType::kBelongsTo;
  else if (type == "hasMany") relation.type = RelationType::kHasMany;
  else if (type == "hasOne") relation.type = RelationType::kHasOne;
  else return invalid(param + ".type must be belongsTo, hasMany or hasOne", param + ".type");
  relation.target = string_member(o, "target");
  relation.foreign_key = string_member(o, "foreignKey");
  if (relation.target.empty() || relation.foreign_key.empty()) {
    return invalid(param + " needs a target and a foreignKey", param);
  }
  if (const auto* options = o.if_contains("options"); options && options->is_object()) {
    relation.parent = bool_or(options->as_object(), "parent", false);
    relation.fk = bool_or(options->as_object(), "fk", false);
  }
  return relation;
}

Status parse_tenancy(const json::object& o, Model& model, const std::string& param) {
  const auto* tenancy = o.if_contains("tenancy");
  if (!tenancy || tenancy->is_null()) return {};
  if (!tenancy->is_object()) return invalid(param + " must be an object", param);
  const auto& t = tenancy->as_object();
  const std::string kind = string_member(t, "kind");
  if (kind == "column") {
    model.tenancy = TenancyKind::kColumn;
    model.tenancy_column = string_member(t, "column", "organization_id");
    if (!std::regex_match(model.tenancy_column, kIdentifierPattern)) return invalid(param + ".column must be an identifier", param + ".column");
  } else if (kind == "parent") {
    model.tenancy = TenancyKind::kParent;
    const auto* via = t.if_contains("via");
    if (!via || !via->is_object()) return invalid(param + ".via is required for parent tenancy", param + ".via");
    for (const auto& [key, value] : via->as_object()) {
      if (!value.is_string() || !std::regex_match(std::string(value.as_string()), kIdentifierPattern)) {
        return invalid(fmt::format("{}.via.{} must be an identifier", param, std::string_view(key)), param + ".via");
      }
    }
  } else if (kind == "none") {
    model.tenancy = TenancyKind::kNone;
  } else {
    return invalid(param + ".kind must be column, parent or none", param + ".kind");
  }
  return {};
}

Status parse_scope(const json::object& o, Model& model) {
  const auto* scope = o.if_contains("scope");
  if (!scope || scope->is_null()) return {};
  const std::string param = model.key + ".scope";
  if (scope->is_bool()) {
    if (scope->as_bool()) model.scope_kind = lower(model.typename_);
    return {};
  }
  if (scope->is_string() && std::regex_match(std::string(scope->as_string()), kKindPattern)) {
    model.scope_kind = std::string(scope->as_string());
    return {};
  }
  return invalid(fmt::format("model '{}': scope must be true, false or a lowercase kind matching ^[a-z][a-z0-9_]*$",
                             model.key),
                 param, "schema_scope_kind_invalid");
}

// The server's own tables live next to the model tables in the embedded store.
bool is_reserved_table(std::string_view table) {
  static constexpr std::string_view kInternal[] = {"sync_deltas", "idempotency", "api_keys",
                                                   "capabilities", "schemas",     "settings"};
  std::string lowered(table);
  for (auto& c : lowered) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lowered.rfind("_ablo_", 0) == 0 ||
         std::find(std::begin(kInternal), std::end(kInternal), lowered) != std::end(kInternal);
}

// `conflict: {user?, agent?, system?}` with values reject | overwrite | notify.
Result<ConflictPolicy> parse_conflict(const json::value& value, const std::string& param) {
  if (!value.is_object()) return invalid(param + " must be an object {user?, agent?, system?}", param);
  ConflictPolicy policy;
  policy.declared = true;
  for (const auto& [kind, disposition] : value.as_object()) {
    const std::string where = param + "." + std::string(kind);
    std::optional<StaleDisposition>* slot = kind == "user"    ? &policy.user
                                            : kind == "agent"  ? &policy.agent
                                            : kind == "system" ? &policy.system
                                                               : nullptr;
    if (!slot) return invalid(fmt::format("{}: unknown participant kind (expected user, agent or system)", where), where);
    const std::string name = disposition.is_string() ? std::string(disposition.as_string()) : "";
    if (name == "reject") *slot = StaleDisposition::kReject;
    else if (name == "overwrite") *slot = StaleDisposition::kOverwrite;
    else if (name == "notify") *slot = StaleDisposition::kNotify;
    else return invalid(where + " must be reject, overwrite or notify", where);
  }
  return policy;
}

// Top-level `sessionSettings`: {<postgres setting>: orgId | projectId | environment | sandboxId |
// participantId | participantKind}. Validated and kept in the stored JSON; this server sets no
// per-session database settings (it has no customer database connection to set them on).
Status check_session_settings(const json::value& value) {
  static constexpr std::string_view kSources[] = {"orgId", "projectId", "environment",
                                                  "sandboxId", "participantId", "participantKind"};
  if (!value.is_object()) return invalid("'sessionSettings' must be an object", "sessionSettings");
  for (const auto& [setting, source] : value.as_object()) {
    const std::string where = "sessionSettings." + std::string(setting);
    const std::string name = source.is_string() ? std::string(source.as_string()) : "";
    const bool known = std::find(std::begin(kSources), std::end(kSources), name) != std::end(kSources);
    if (setting.empty() || !known) {
      return invalid(where + " must be one of orgId, projectId, environment, sandboxId, participantId, participantKind",
                     where);
    }
  }
  return {};
}

Result<Model> parse_model(const std::string& key, const json::value& value) {
  const std::string param = "models." + key;
  if (key.empty()) return invalid("model keys must not be empty", "models");
  if (!value.is_object()) return invalid(param + " must be an object", param);
  const auto& o = value.as_object();
  Model model;
  model.key = key;
  model.typename_ = string_member(o, "typename");
  if (model.typename_.empty()) model.typename_ = key;
  model.table = string_member(o, "tableName");
  if (model.table.empty()) model.table = key;
  if (is_reserved_table(model.table)) {
    return invalid(fmt::format("{}: table name '{}' is reserved by the server; set tableName", param, model.table),
                   param + ".tableName");
  }
  const std::string load = string_member(o, "load", "instant");
  if (load == "instant") model.load = Load::kInstant;
  else if (load == "lazy") model.load = Load::kLazy;
  else if (load == "manual") model.load = Load::kManual;
  else return invalid(param + ".load must be instant, lazy or manual", param + ".load");
  const std::string plane = string_member(o, "plane", "tenant");
  if (plane != "tenant" && plane != "control") return invalid(param + ".plane must be tenant or control", param + ".plane");
  model.control_plane = plane == "control";
  model.mutable_ = bool_or(o, "mutable", true);
  if (const auto* limit = o.if_contains("bootstrapLimit"); limit && limit->is_number()) {
    model.bootstrap_limit =
        clamped_int64(*limit, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()).value_or(0);
  }
  if (auto ok = parse_tenancy(o, model, param + ".tenancy"); !ok) return tl::unexpected(ok.error());
  if (auto ok = parse_scope(o, model); !ok) return tl::unexpected(ok.error());

  const auto* fields = o.if_contains("fields");
  if (!fields || !fields->is_object()) return invalid(param + ".fields must be an object", param + ".fields");
  for (const auto& [name, meta] : fields->as_object()) {
    auto field = parse_field(key, std::string(name), meta);
    if (!field) return tl::unexpected(field.error());
    model.fields.push_back(std::move(*field));
  }
  if (const auto* relations = o.if_contains("relations"); relations && relations->is_object()) {
    for (const auto& [name, rel] : relations->as_object()) {
      auto relation = parse_relation(key, std::string(name), rel);
      if (!relation) return tl::unexpected(relation.error());
      model.relations.push_back(std::move(*relation));
    }
  }
  if (const auto* roles = o.if_contains("entityRoles"); roles && roles->is_array()) {
    std::size_t i = 0;
    for (const auto& r : roles->as_array()) {
      auto role = parse_role(r, fmt::format("{}.entityRoles[{}]", param, i++));
      if (!role) return tl::unexpected(role.error());
      model.entity_roles.push_back(std::move(*role));
    }
  }
  if (const auto* conflict = o.if_contains("conflict"); conflict && !conflict->is_null()) {
    auto policy = parse_conflict(*conflict, param + ".conflict");
    if (!policy) return tl::unexpected(policy.error());
    model.conflict = *policy;
  }
  return model;
}

// schema.md §1.9 grants rules, checked once every model is known.
Status check_grants(const json::object& models_json, const std::vector<Model>& models) {
  for (const auto& model : models) {
    const auto* grants = models_json.at(model.key).as_object().if_contains("grants");
    if (!grants || grants->is_null()) continue;
    const std::string param = model.key + ".grants";
    if (!grants->is_object()) return invalid(param + " must be {subject, scope}", param, "schema_grants_shape_invalid");
    for (const char* side : {"subject", "scope"}) {
      const std::string name = string_member(grants->as_object(), side);
      if (!std::regex_match(name, kIdentifierPattern)) {
        return invalid(fmt::format("{}.{} must be an identifier", param, side), param, "schema_grants_shape_invalid");
      }
      auto relation = std::find_if(model.relations.begin(), model.relations.end(),
                                   [&](const Relation& r) { return r.name == name; });
      const std::string side_param = param + "." + side;
      if (relation == model.relations.end()) {
        return invalid(fmt::format("{}: relation '{}' is not declared on '{}'", side_param, name, model.key), side_param,
                       "schema_grants_relation_missing");
      }
      if (relation->type != RelationType::kBelongsTo) {
        return invalid(fmt::format("{}: relation '{}' must be a belongsTo", side_param, name), side_param,
                       "schema_grants_relation_kind");
      }
      if (std::string_view(side) == "scope") {
        auto target = std::find_if(models.begin(), models.end(), [&](const Model& m) { return m.key == relation->target; });
        if (target != models.end() && !target->scope_kind) {
          return invalid(fmt::format("grants scope target '{}' is not a scope root", target->key), target->key + ".scope",
                         "schema_grants_target_not_scope_root");
        }
      }
    }
  }
  return {};
}

// ---- schemaHash: canonical JSON (sorted keys, JS escaping and numbers), FNV-1a over UTF-16.

void append_js_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += fmt::format("\\u{:04x}", c);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

void append_js_number(std::string& out, double value) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  std::string text(buf, end);
  // JS writes exponents without leading zeros ("1e-7", "1e+21"); to_chars pads ("1e-07").
  if (auto e = text.find('e'); e != std::string::npos) {
    std::string mantissa = text.substr(0, e), exponent = text.substr(e + 1);
    char sign = '+';
    if (!exponent.empty() && (exponent[0] == '+' || exponent[0] == '-')) {
      sign = exponent[0];
      exponent.erase(0, 1);
    }
    while (exponent.size() > 1 && exponent[0] == '0') exponent.erase(0, 1);
    const double magnitude = std::abs(value);
    if (magnitude >= 1e-6 && magnitude < 1e21) {
      // JS uses plain notation in this range; fall back to fixed formatting.
      text = fmt::format("{}", value);
    } else {
      text = mantissa + "e" + sign + exponent;
    }
  }
  out += text;
}

void append_canonical(std::string& out, const json::value& value) {
  switch (value.kind()) {
    case json::kind::null: out += "null"; break;
    case json::kind::bool_: out += value.get_bool() ? "true" : "false"; break;
    case json::kind::int64: out += std::to_string(value.get_int64()); break;
    case json::kind::uint64: out += std::to_string(value.get_uint64()); break;
    case json::kind::double_: append_js_number(out, value.get_double()); break;
    case json::kind::string: append_js_string(out, value.get_string()); break;
    case json::kind::array: {
      out.push_back('[');
      bool first = true;
      for (const auto& item : value.get_array()) {
        if (!first) out.push_back(',');
        first = false;
        append_canonical(out, item);
      }
      out.push_back(']');
      break;
    }
    case json::kind::object: {
      std::vector<std::pair<std::string_view, const json::value*>> members;
      for (const auto& [key, member] : value.get_object()) members.emplace_back(key, &member);
      // Byte order of UTF-8 equals UTF-16 code-unit order except for supplementary-plane keys.
      std::sort(members.begin(), members.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      out.push_back('{');
      bool first = true;
      for (const auto& [key, member] : members) {
        if (!first) out.push_back(',');
        first = false;
        append_js_string(out, key);
        out.push_back(':');
        append_canonical(out, *member);
      }
      out.push_back('}');
      break;
    }
  }
}

uint32_t fnv1a_utf16(std::string_view utf8) {
  uint32_t hash = 0x811c9dc5u;
  auto mix = [&](uint32_t unit) {
    hash ^= unit;
    hash *= 0x01000193u;
  };
  for (std::size_t i = 0; i < utf8.size();) {
    const auto c = static_cast<unsigned char>(utf8[i]);
    uint32_t cp;
    std::size_t len;
    if (c < 0x80) { cp = c; len = 1; }
    else if ((c >> 5) == 0x6) { cp = c & 0x1f; len = 2; }
    else if ((c >> 4) == 0xe) { cp = c & 0x0f; len = 3; }
    else { cp = c & 0x07; len = 4; }
    for (std::size_t k = 1; k < len && i + k < utf8.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(utf8[i + k]) & 0x3f);
    i += len;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      mix(0xD800 + (cp >> 10));
      mix(0xDC00 + (cp & 0x3ff));
    } else {
      mix(cp);
    }
  }
  return hash;
}

}  // namespace

std::string_view to_string(FieldType type) {
  switch (type) {
    case FieldType::kString: return "string";
    case FieldType::kNumber: return "number";
    case FieldType::kBoolean: return "boolean";
    case FieldType::kDate: return "date";
    case FieldType::kEnum: return "enum";
    case FieldType::kJson: return "json";
  }
  return "string";
}

const Field* Model::field(std::string_view name) const {
  for (const auto& f : fields) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

std::optional<std::string> Model::resolve_column(std::string_view name) const {
  static const std::pair<std::string_view, std::string_view> kBase[] = {
      {"id", "id"},
      {"createdAt", "created_at"},
      {"updatedAt", "updated_at"},
      {"organizationId", "organization_id"},
      {"createdBy", "created_by"},
      {"archivedAt", "archived_at"}};
  for (const auto& [field_name, column] : kBase) {
    if (name == field_name || name == column) return std::string(field_name);
  }
  for (const auto& f : fields) {
    if (f.name == name || f.column == name || camel_to_snake(f.name) == name) return f.name;
  }
  const std::string folded = lower(name);
  for (const auto& f : fields) {
    if (lower(f.name) == folded) return f.name;
  }
  return std::nullopt;
}

Result<std::shared_ptr<const Schema>> Schema::parse(const json::value& value) {
  if (!value.is_object()) return invalid("a schema must be a JSON object {v, models, identityRoles}", "");
  const auto& root = value.as_object();
  const auto* version = root.if_contains("v");
  if (!version || number_as_double(*version) != 3.0) {
    const std::string got = version ? json::serialize(*version) : "missing";
    return invalid(fmt::format("unsupported schema-JSON version {} (expected 3)", got), "v");
  }
  auto schema = std::make_shared<Schema>();
  const auto* models = root.if_contains("models");
  if (!models || !models->is_object()) return invalid("'models' must be an object", "models");
  std::unordered_map<std::string, std::string> names;  // lowercase wire name -> model key
  for (const auto& [key, model_json] : models->as_object()) {
    auto model = parse_model(std::string(key), model_json);
    if (!model) return tl::unexpected(model.error());
    for (const auto& alias : {lower(model->key), lower(model->typename_)}) {
      auto [it, inserted] = names.emplace(alias, model->key);
      if (!inserted && it->second != model->key) {
        return invalid(fmt::format("models '{}' and '{}' both answer to the wire name '{}'", it->second, model->key, alias),
                       "models." + model->key);
      }
    }
    schema->models_.push_back(std::move(*model));
  }
  if (auto ok = check_grants(models->as_object(), schema->models_); !ok) return tl::unexpected(ok.error());
  if (const auto* settings = root.if_contains("sessionSettings"); settings && !settings->is_null()) {
    if (auto ok = check_session_settings(*settings); !ok) return tl::unexpected(ok.error());
  }
  if (const auto* roles = root.if_contains("identityRoles"); roles && !roles->is_null()) {
    if (!roles->is_array()) return invalid("'identityRoles' must be an array", "identityRoles");
    std::size_t i = 0;
    for (const auto& r : roles->as_array()) {
      auto role = parse_role(r, fmt::format("identityRoles[{}]", i++));
      if (!role) return tl::unexpected(role.error());
      schema->identity_roles_.push_back(std::move(*role));
    }
  }
  schema->json_text_ = json::serialize(value);
  schema->hash_ = schema_hash(value);
  return std::shared_ptr<const Schema>(std::move(schema));
}

Result<std::shared_ptr<const Schema>> Schema::parse_text(std::string_view text) {
  boost::system::error_code ec;
  auto value = json::parse(text, ec);
  if (ec) return invalid(fmt::format("the schema is not valid JSON: {}", ec.message()), "");
  return parse(value);
}

std::shared_ptr<const Schema> Schema::empty() {
  static const auto kEmpty = *parse(json::parse(R"({"v":3,"models":{},"identityRoles":[]})"));
  return kEmpty;
}

const Model* Schema::by_key(std::string_view key) const {
  for (const auto& m : models_) {
    if (m.key == key) return &m;
  }
  return nullptr;
}

const Model* Schema::resolve(std::string_view any_name) const {
  if (const auto* exact = by_key(any_name)) return exact;
  const std::string folded = lower(any_name);
  for (const auto& m : models_) {
    if (m.typename_ == any_name || lower(m.key) == folded || lower(m.typename_) == folded) return &m;
    // The model proxy lowercases the typename after removing the first "Model" (protocol.md §4.7).
    std::string stripped = m.typename_;
    if (auto pos = stripped.find("Model"); pos != std::string::npos) stripped.erase(pos, 5);
    if (lower(stripped) == folded) return &m;
  }
  return nullptr;
}

std::string_view to_string(StaleDisposition disposition) {
  switch (disposition) {
    case StaleDisposition::kReject: return "reject";
    case StaleDisposition::kOverwrite: return "overwrite";
    case StaleDisposition::kNotify: return "notify";
  }
  return "reject";
}

std::optional<StaleDisposition> ConflictPolicy::for_kind(std::string_view participant_kind) const {
  if (participant_kind == "user") return user;
  if (participant_kind == "agent") return agent;
  if (participant_kind == "system") return system;
  return std::nullopt;
}

std::string camel_to_snake(std::string_view name) {
  std::string out;
  out.reserve(name.size() + 4);
  for (char c : name) {
    if (c >= 'A' && c <= 'Z') {
      out.push_back('_');
      out.push_back(static_cast<char>(c - 'A' + 'a'));
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string canonical_json(const json::value& value) {
  std::string canonical;
  append_canonical(canonical, value);
  return canonical;
}

std::string schema_hash(const json::value& value) { return fmt::format("{:08x}", fnv1a_utf16(canonical_json(value))); }

}  // namespace ablo::schema
