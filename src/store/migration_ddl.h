#pragma once
// Applying a migration plan (schema/diff.h) to SQL tables: apply_migration_steps resolves each
// step against the previous and next schema (which tables and columns it names) and asks a
// dialect for the DDL. Shared by the SQL stores; private to store/.
#include <string>

#include <boost/json/value.hpp>

#include "common/result.h"
#include "schema/diff.h"
#include "schema/schema.h"

namespace ablo::store {

class MigrationDdl {
 public:
  virtual ~MigrationDdl() = default;
  virtual Status drop_table(const std::string& table) = 0;
  virtual Status rename_table(const std::string& from, const std::string& to) = 0;
  virtual Status rename_column(const std::string& table, const std::string& from, const std::string& to) = 0;
  virtual Status drop_column(const std::string& table, const std::string& column) = 0;
  // Adds the field's column unless it exists.
  virtual Status add_column(const std::string& table, const schema::Field& field) = 0;
  // Gives `field`'s column its new type, converting the values as `cast` allows (lossy: none
  // kept). `before` is the field as it was, when known.
  virtual Status change_type(const schema::Model& model, const schema::Field& field, const schema::Field* before,
                             schema::Cast cast) = 0;
  // Sets the column to `value` where it is null.
  virtual Status backfill(const std::string& table, const schema::Field& field, const boost::json::value& value) = 0;
};

Status apply_migration_steps(const schema::Schema& previous, const schema::Schema& next,
                             const schema::MigrationPlan& plan, MigrationDdl& ddl);

}  // namespace ablo::store
