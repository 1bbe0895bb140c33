#pragma once
// Read-only PostgreSQL introspection behind `ablo pull` and `ablo check`:
//  * pull_schema turns the existing tables of a PostgreSQL schema into a schema JSON v3
//    document (schema.md §2) that parses with schema::Schema::parse, so an existing database
//    can be adopted without writing the schema by hand;
//  * check_schema verifies, without changing anything, that a database already has the
//    tables and columns the PostgreSQL store expects for a schema (the layout the store
//    creates: base columns _tenant/id/created_at/updated_at/created_by/archived_at/_groups
//    plus one column per declared field, schema.md §3.3/§3.4).
//
// Both run inside one READ ONLY transaction of their own on `conn` (so they see one
// consistent catalogue and cannot write), and must not be called inside another transaction.
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "common/result.h"
#include "pg/connection.h"
#include "schema/schema.h"

namespace ablo::introspect {

struct PullResult {
  boost::json::object schema;         // schema JSON v3: {v: 3, models, identityRoles: []}
  std::vector<std::string> warnings;  // lossy mappings, skipped columns, renamed keys
};

// Introspects the ordinary and partitioned tables of `pg_schema`. One model per table (server
// tables such as sync_deltas and _ablo_* are skipped), base columns are not fields, every other
// column becomes a field typed by the inverse of schema.md §3.4; a single-column CHECK
// `col IN ('a','b')` or a PostgreSQL enum type makes an enum; NOT NULL means required.
// `on_table` (optional) hears of each table before it is read (a progress bar's steps).
using PullProgress = std::function<void(std::size_t tables_done, std::size_t tables_total, const std::string& table)>;
Result<PullResult> pull_schema(pg::Connection& conn, const std::string& pg_schema = "public",
                               const PullProgress& on_table = {});

struct CheckReport {
  std::vector<std::string> problems;  // the store would fail on this database
  std::vector<std::string> warnings;  // works, but worth a look
  bool ok() const { return problems.empty(); }
};

// Verifies every tenant-plane model of `schema` against `pg_schema`: its table exists, has
// the base columns with their types, and one column of a compatible type per stored field;
// enum fields should carry the `<table>_<col>_enum` CHECK (a warning when missing). Extra
// tables and columns are fine. Errors only for connection / catalogue query failures.
Result<CheckReport> check_schema(pg::Connection& conn, const schema::Schema& schema,
                                 const std::string& pg_schema = "public");

// snakeToCamel (schema.md §3.2): each run of underscores followed by a letter or digit becomes
// that character upper-cased ("due_at" -> "dueAt", "a__b" -> "aB"); trailing '_' stays.
std::string snake_to_camel(std::string_view name);

// The values of a CHECK constraint as PostgreSQL prints it (pg_get_constraintdef) when it
// only says that `column` is one of some string literals, e.g.
// `CHECK ((status = ANY (ARRAY['a'::text, 'b'::text])))` -> {"a", "b"}; empty otherwise.
std::vector<std::string> enum_values_of_check(std::string_view definition, std::string_view column);

}  // namespace ablo::introspect
