#include "schema/codegen_cpp.h"

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <set>
#include <span>
#include <sstream>
#include <vector>

#include <boost/json/parse.hpp>
#include <fmt/format.h>

namespace ablo::schema {

// File-local helpers live in a named namespace: sources compile in unity batches.
namespace cpp_codegen {

// --- identifiers -----------------------------------------------------------------------------

// C++20 keywords and alternative tokens, identifiers with special meaning, and macro names of
// the C library a generated name must not become (a member `assert` would be expanded).
constexpr std::string_view kReserved[] = {
    "alignas", "alignof", "and", "and_eq", "asm", "auto", "bitand", "bitor", "bool", "break", "case", "catch",
    "char", "char8_t", "char16_t", "char32_t", "class", "compl", "concept", "const", "consteval", "constexpr",
    "constinit", "const_cast", "continue", "co_await", "co_return", "co_yield", "decltype", "default", "delete",
    "do", "double", "dynamic_cast", "else", "enum", "explicit", "export", "extern", "false", "float", "for",
    "friend", "goto", "if", "inline", "int", "long", "mutable", "namespace", "new", "noexcept", "not", "not_eq",
    "nullptr", "operator", "or", "or_eq", "private", "protected", "public", "register", "reinterpret_cast",
    "requires", "return", "short", "signed", "sizeof", "static", "static_assert", "static_cast", "struct",
    "switch", "template", "this", "thread_local", "throw", "true", "try", "typedef", "typeid", "typename",
    "union", "unsigned", "using", "virtual", "void", "volatile", "wchar_t", "while", "xor", "xor_eq", "final",
    "override", "import", "module", "assert", "errno", "stdin", "stdout", "stderr", "linux", "unix", "major",
    "minor", "offsetof"};

bool is_reserved(std::string_view name) {
  for (auto word : kReserved) {
    if (word == name) return true;
  }
  return false;
}

bool is_ascii_upper(char c) { return c >= 'A' && c <= 'Z'; }
bool is_ascii_lower(char c) { return c >= 'a' && c <= 'z'; }
bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }
char ascii_lower(char c) { return is_ascii_upper(c) ? static_cast<char>(c - 'A' + 'a') : c; }
char ascii_upper(char c) { return is_ascii_lower(c) ? static_cast<char>(c - 'a' + 'A') : c; }

// One UTF-8 sequence at `text[i]`: its code point, and `i` moved past it (a stray byte is
// taken as itself).
uint32_t next_code_point(std::string_view text, std::size_t& i) {
  const auto lead = static_cast<unsigned char>(text[i++]);
  const int extra = lead >= 0xF0 ? 3 : lead >= 0xE0 ? 2 : lead >= 0xC0 ? 1 : 0;
  uint32_t point = extra == 3 ? lead & 0x07u : extra == 2 ? lead & 0x0Fu : extra == 1 ? lead & 0x1Fu : lead;
  for (int n = 0; n < extra && i < text.size() && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80; ++n) {
    point = (point << 6) | (static_cast<unsigned char>(text[i++]) & 0x3Fu);
  }
  return point;
}

// The words of a name in any casing: "dueAt" → due, At; "HTTPServer" → HTTP, Server;
// "in-progress" → in, progress; "v2Name" → v2, Name. A non-ASCII character becomes "u<hex>" in
// the word it is part of ("naïve" → nau00efve), so every word is ASCII.
std::vector<std::string> split_words(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  auto end_word = [&] {
    if (!word.empty()) words.push_back(std::move(word));
    word.clear();
  };
  for (std::size_t i = 0; i < text.size();) {
    const char c = text[i];
    if (static_cast<unsigned char>(c) >= 0x80) {
      word += fmt::format("u{:04x}", next_code_point(text, i));
      continue;
    }
    ++i;
    if (!is_ascii_upper(c) && !is_ascii_lower(c) && !is_ascii_digit(c)) {
      end_word();
      continue;
    }
    if (is_ascii_upper(c) && !word.empty()) {
      const char before = word.back();
      const bool next_is_lower = i < text.size() && is_ascii_lower(text[i]);
      // A capital after a small letter or digit starts a word; so does the last capital of an
      // acronym when a small letter follows it.
      if (!is_ascii_upper(before) || next_is_lower) end_word();
    }
    word.push_back(c);
  }
  end_word();
  return words;
}

std::string snake_case(std::string_view text) {
  std::string out;
  for (const auto& word : split_words(text)) {
    if (!out.empty()) out.push_back('_');
    for (char c : word) out.push_back(ascii_lower(c));
  }
  if (!out.empty() && is_ascii_digit(out.front())) out.insert(out.begin(), '_');  // "2fa" → _2fa (class scope)
  return out;
}

// Capitalised words; an all-capitals word (an acronym) keeps only its first capital: HTTP → Http.
std::string pascal_words(std::string_view text) {
  std::string out;
  for (const auto& word : split_words(text)) {
    const bool acronym = std::none_of(word.begin(), word.end(), is_ascii_lower);
    out.push_back(ascii_upper(word.front()));
    for (std::size_t i = 1; i < word.size(); ++i) out.push_back(acronym ? ascii_lower(word[i]) : word[i]);
  }
  return out;
}

std::string pascal_case(std::string_view text, std::string_view if_empty) {
  std::string out = pascal_words(text);
  if (out.empty()) return std::string(if_empty);
  if (is_ascii_digit(out.front())) out.insert(out.begin(), 'T');  // a type name cannot start with a digit
  return out;
}

bool is_identifier(std::string_view text) {
  if (text.empty() || is_ascii_digit(text.front())) return false;
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return is_ascii_upper(c) || is_ascii_lower(c) || is_ascii_digit(c) || c == '_'; });
}

// The names taken in one scope: a clash, a keyword or a reserved name gets '_' appended.
class Scope {
 public:
  Scope(std::initializer_list<std::string_view> taken = {}) : Scope(std::span(taken.begin(), taken.size())) {}
  explicit Scope(std::span<const std::string_view> taken) {
    for (auto name : taken) taken_.emplace(name);
  }
  std::string claim(std::string name) {
    while (is_reserved(name) || taken_.count(name)) name.push_back('_');
    taken_.insert(name);
    return name;
  }

 private:
  std::set<std::string, std::less<>> taken_;
};

// --- literals --------------------------------------------------------------------------------

// A C++ string literal of UTF-8 `text` (octal escapes: a hex escape would swallow a following digit).
std::string string_literal(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (byte < 0x20 || byte == 0x7F) {
      out += fmt::format("\\{:03o}", byte);
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
  return out;
}

// A raw string literal holding `text`, with a delimiter that does not occur in it.
std::string raw_literal(std::string_view text) {
  std::string delimiter = "ablo";
  for (int n = 1; text.find(")" + delimiter + "\"") != std::string_view::npos; ++n) delimiter = fmt::format("ablo{}", n);
  return fmt::format("R\"{}({}){}\"", delimiter, text, delimiter);
}

// --- the plan: every generated name, decided before anything is written ----------------------

struct EnumPlan {
  std::string type;         // TaskStatus
  std::string parse_name;   // task_status_from_string
  std::string origin;       // "tasks.status"
  std::vector<std::string> values, enumerators;
};

struct FieldPlan {
  const Field* field = nullptr;
  std::string member;      // due_at
  std::string value_type;  // the C++ type without std::optional
  const EnumPlan* enumeration = nullptr;
  std::string relation;    // "belongsTo users (assignee)" when a relation uses it as its key
};

struct ModelPlan {
  const Model* model = nullptr;
  std::string type;      // Task
  std::string accessor;  // tasks
  std::vector<FieldPlan> fields;
};

// The base fields every row carries (schema.md §1.2): always members, never from `fields`.
constexpr std::string_view kBaseKeys[] = {"id", "createdAt", "updatedAt", "archivedAt"};
bool is_base_key(std::string_view key) { return std::find(std::begin(kBaseKeys), std::end(kBaseKeys), key) != std::end(kBaseKeys); }

// `std`, `boost`, `ablo` would hide the namespaces the generated code names inside a class.
constexpr std::string_view kMemberTaken[] = {"id", "created_at", "updated_at", "archived_at",
                                                                  "std", "boost", "ablo"};
// ablo::Client's members (an accessor must not hide one) and the generated class's own.
constexpr std::string_view kAccessorTaken[] = {
    "ready", "model", "models", "commit", "wait_for_flush", "undo", "presence", "status", "on_status",
    "on_mutation_failure", "on_store_event", "set_auth_token", "reconnect_now", "participant_id",
    "organization_id", "schema_hash", "core", "with_schema", "std", "boost", "ablo"};

std::string relation_note(const Model& model, const Field& field) {
  for (const auto& relation : model.relations) {
    if (relation.type == RelationType::kBelongsTo && relation.foreign_key == field.name) {
      return fmt::format("belongsTo {} ({})", relation.target, relation.name);
    }
  }
  return {};
}

class Plan {
 public:
  explicit Plan(const Schema& schema) {
    // Enum types are named after their model's struct, so structs are named first.
    for (const auto& model : schema.models()) {
      ModelPlan plan;
      plan.model = &model;
      plan.type = types_.claim(pascal_case(model.typename_, "Model"));
      plan.accessor = accessors_.claim(or_else(snake_case(model.key), "model"));
      models_.push_back(std::move(plan));
    }
    for (auto& plan : models_) plan_fields(plan);
  }
  const std::vector<ModelPlan>& models() const { return models_; }
  const std::vector<std::unique_ptr<EnumPlan>>& enums() const { return enums_; }

 private:
  static std::string or_else(std::string name, std::string_view fallback) { return name.empty() ? std::string(fallback) : name; }

  void plan_fields(ModelPlan& plan) {
    Scope members(kMemberTaken);
    for (const auto& field : plan.model->fields) {
      if (is_base_key(field.name)) continue;  // declared base field: the base member already holds it
      FieldPlan f;
      f.field = &field;
      f.member = members.claim(or_else(snake_case(field.name), "field"));
      f.relation = relation_note(*plan.model, field);
      switch (field.type) {
        case FieldType::kString: f.value_type = "std::string"; break;
        case FieldType::kNumber: f.value_type = "double"; break;
        case FieldType::kBoolean: f.value_type = "bool"; break;
        case FieldType::kDate: f.value_type = "ablo::Timestamp"; break;
        case FieldType::kJson: f.value_type = "boost::json::value"; break;
        case FieldType::kEnum:
          // Without enumValues any string is accepted (the server checks none): a string.
          if (field.enum_values.empty()) {
            f.value_type = "std::string";
          } else {
            f.enumeration = plan_enum(plan, field);
            f.value_type = f.enumeration->type;
          }
          break;
      }
      plan.fields.push_back(std::move(f));
    }
  }

  const EnumPlan* plan_enum(const ModelPlan& model, const Field& field) {
    auto plan = std::make_unique<EnumPlan>();
    plan->type = types_.claim(model.type + pascal_case(field.name, "Field"));
    plan->parse_name = functions_.claim(snake_case(plan->type) + "_from_string");
    plan->origin = model.model->key + "." + field.name;
    Scope enumerators;
    for (std::size_t i = 0; i < field.enum_values.size(); ++i) {
      const auto& value = field.enum_values[i];
      const std::string words = pascal_words(value);
      const std::string name = !words.empty() ? "k" + words : value.empty() ? "kEmpty" : fmt::format("kValue{}", i);
      plan->values.push_back(value);
      plan->enumerators.push_back(enumerators.claim(name));
    }
    enums_.push_back(std::move(plan));
    return enums_.back().get();
  }

  Scope types_{"Client"};
  Scope functions_{"to_string", "tag_invoke"};
  Scope accessors_{kAccessorTaken};
  std::vector<ModelPlan> models_;
  std::vector<std::unique_ptr<EnumPlan>> enums_;
};

// --- writing ---------------------------------------------------------------------------------

void write_enum(std::ostringstream& out, const EnumPlan& plan) {
  out << "// " << plan.origin << " (enumValues, in order)\n";
  out << "enum class " << plan.type << " {\n";
  for (std::size_t i = 0; i < plan.values.size(); ++i) {
    out << "  " << plan.enumerators[i] << ",";
    // A value that is not an identifier was mangled: the comment keeps the wire form.
    if (!is_identifier(plan.values[i])) out << "  // " << string_literal(plan.values[i]);
    out << "\n";
  }
  out << "};\n";
  out << "inline std::string_view to_string(" << plan.type << " value) {\n  switch (value) {\n";
  for (std::size_t i = 0; i < plan.values.size(); ++i) {
    out << "    case " << plan.type << "::" << plan.enumerators[i] << ": return " << string_literal(plan.values[i]) << ";\n";
  }
  out << "  }\n  return {};\n}\n";
  out << "// nullopt: a value this header does not know.\n";
  out << "inline std::optional<" << plan.type << "> " << plan.parse_name << "(std::string_view text) {\n";
  for (std::size_t i = 0; i < plan.values.size(); ++i) {
    out << "  if (text == " << string_literal(plan.values[i]) << ") return " << plan.type << "::" << plan.enumerators[i] << ";\n";
  }
  out << "  return std::nullopt;\n}\n\n";
}

std::string member_declaration(const FieldPlan& f) {
  const Field& field = *f.field;
  if (field.optional) return fmt::format("std::optional<{}> {};", f.value_type, f.member);
  switch (field.type) {
    case FieldType::kNumber: return fmt::format("double {} = 0;", f.member);
    case FieldType::kBoolean: return fmt::format("bool {} = false;", f.member);
    case FieldType::kDate: return fmt::format("ablo::Timestamp {}{{}};", f.member);
    case FieldType::kEnum:
      if (f.enumeration) return fmt::format("{} {} = {}::{};", f.value_type, f.member, f.value_type, f.enumeration->enumerators.front());
      break;
    default: break;
  }
  return fmt::format("{} {};", f.value_type, f.member);
}

std::string member_comment(const FieldPlan& f) {
  const Field& field = *f.field;
  std::string comment = fmt::format("{}: {}", string_literal(field.name), to_string(field.type));
  if (field.optional) comment += ", optional";
  if (field.type == FieldType::kEnum && !f.enumeration) comment += " (no enumValues: any string)";
  if (!f.relation.empty()) comment += ", " + f.relation;
  return comment;
}

void write_struct(std::ostringstream& out, const ModelPlan& plan) {
  const Model& model = *plan.model;
  out << "// Model " << string_literal(model.key) << " (typename " << string_literal(model.typename_) << ").\n";
  out << "struct " << plan.type << " {\n";
  out << "  static constexpr std::string_view kModel = " << string_literal(model.key) << ";  // schema key\n";
  out << "  static constexpr std::string_view kTypename = " << string_literal(model.typename_) << ";\n";
  out << "  std::string id;\n";
  out << "  // Set by the server; read from rows, never written (value_from leaves them out).\n";
  out << "  std::optional<ablo::Timestamp> created_at, updated_at, archived_at;\n";
  for (const auto& f : plan.fields) out << "  " << member_declaration(f) << "  // " << member_comment(f) << "\n";
  out << "\n  bool operator==(const " << plan.type << "&) const = default;\n";
  out << "};\n\n";

  out << "inline void tag_invoke(boost::json::value_from_tag, boost::json::value& json, const " << plan.type << "& value) {\n";
  out << "  boost::json::object object;\n";
  out << "  object[\"id\"] = ablo::typed::to_json(value.id);\n";
  for (const auto& f : plan.fields) {
    out << "  object[" << string_literal(f.field->name) << "] = ablo::typed::to_json(value." << f.member << ");\n";
  }
  out << "  json = std::move(object);\n}\n\n";

  out << "// Unknown keys are ignored, missing ones leave the member's default; an unknown enum value\n"
         "// throws ablo::Exception(invalid_request).\n";
  out << "inline " << plan.type << " tag_invoke(boost::json::value_to_tag<" << plan.type
      << ">, const boost::json::value& json) {\n";
  out << "  const boost::json::object& object = ablo::typed::object_of(json, " << string_literal(plan.type) << ");\n";
  out << "  " << plan.type << " value;\n";
  out << "  ablo::typed::read(object, \"id\", value.id);\n";
  out << "  ablo::typed::read(object, \"createdAt\", value.created_at);\n";
  out << "  ablo::typed::read(object, \"updatedAt\", value.updated_at);\n";
  out << "  ablo::typed::read(object, \"archivedAt\", value.archived_at);\n";
  for (const auto& f : plan.fields) {
    if (f.enumeration) {
      out << "  ablo::typed::read_enum(object, " << string_literal(f.field->name) << ", value." << f.member << ", "
          << f.enumeration->parse_name << ");\n";
    } else {
      out << "  ablo::typed::read(object, " << string_literal(f.field->name) << ", value." << f.member << ");\n";
    }
  }
  out << "  return value;\n}\n\n";
}

void write_client(std::ostringstream& out, const std::vector<ModelPlan>& models) {
  out << "// The client of this schema: one typed accessor per model (client.tasks()).\n";
  out << "class Client : public ablo::Client {\n public:\n";
  out << "  // Options::schema left empty is filled with kSchemaJson.\n";
  out << "  explicit Client(ablo::Options options) : ablo::Client(with_schema(std::move(options))) {}\n\n";
  for (const auto& plan : models) {
    out << "  ablo::TypedModel<" << plan.type << "> " << plan.accessor << "() const { return models<" << plan.type
        << ">(); }\n";
  }
  out << "\n private:\n";
  out << "  static ablo::Options with_schema(ablo::Options options) {\n";
  out << "    if (options.schema.empty()) options.schema = std::string(kSchemaJson);\n";
  out << "    return options;\n  }\n};\n";
}

}  // namespace cpp_codegen

bool is_cpp_namespace(std::string_view name) {
  if (name.empty()) return false;
  for (std::size_t start = 0;;) {
    const auto end = name.find("::", start);
    const auto part = name.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    // Reserved to the implementation: a double underscore anywhere, or '_' and a capital first.
    const bool reserved_form = part.find("__") != std::string_view::npos ||
                               (part.size() > 1 && part[0] == '_' && cpp_codegen::is_ascii_upper(part[1]));
    if (!cpp_codegen::is_identifier(part) || cpp_codegen::is_reserved(part) || reserved_form) return false;
    if (end == std::string_view::npos) return true;
    start = end + 2;
  }
}

std::string generate_cpp(const Schema& schema, const CppOptions& options) {
  using namespace cpp_codegen;
  const Plan plan(schema);
  std::ostringstream out;
  out << "// Generated by `ablo generate --lang cpp` from schema hash " << schema.hash() << ". Do not edit.\n";
  out << "#pragma once\n";
  out << "#include <optional>\n#include <string>\n#include <string_view>\n#include <utility>\n\n";
  out << "#include <boost/json/object.hpp>\n#include <boost/json/value.hpp>\n";
  out << "#include <boost/json/value_from.hpp>\n#include <boost/json/value_to.hpp>\n\n";
  out << "#include \"sdk/client.h\"\n#include \"sdk/typed.h\"\n\n";
  out << "namespace " << options.namespace_name << " {\n\n";
  out << "// The schema (canonical JSON, schema.md §2.4) and its schemaHash.\n";
  out << "inline constexpr std::string_view kSchemaJson =\n    "
      << raw_literal(canonical_json(boost::json::parse(schema.json_text()))) << ";\n";
  out << "inline constexpr std::string_view kSchemaHash = " << string_literal(schema.hash()) << ";\n\n";
  for (const auto& enumeration : plan.enums()) write_enum(out, *enumeration);
  for (const auto& model : plan.models()) write_struct(out, model);
  write_client(out, plan.models());
  out << "\n}  // namespace " << options.namespace_name << "\n";
  return out.str();
}

}  // namespace ablo::schema
