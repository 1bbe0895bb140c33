#pragma once
// The one authorization rule every path applies (issue 10): bootstrap, query, entity and REST
// reads, commits over HTTP and WebSocket, live deltas and catch-up, claims and claim listings.
//
//   read(row)   iff  same tenant
//                    AND `<model>.read` is in the operations allowlist (empty = everything)
//                    AND the row's sync groups intersect the principal's allowed groups
//                        (a secret key sees its whole tenant)
//   write(row)  iff  `<model>.<verb>` is allowed (archive/unarchive are `update`)
//                    AND the principal could read the row before the write (update, delete)
//                    AND the principal could read the row after it (create, update)
//
// So a create into a foreign group, or an update that moves a row into or out of foreign
// groups, is refused. Pure functions; thread-safe.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/auth_service.h"
#include "common/result.h"
#include "schema/schema.h"

namespace ablo::authz {

enum class Verb { kRead, kCreate, kUpdate, kDelete };
// "read" | "create" | "update" | "delete": the `<verb>` of `<model>.<verb>`.
std::string_view verb_name(Verb verb);

// Why a request was refused, so each path can answer with its established error.
enum class Denial {
  kNone,
  kOperation,     // the allowlist lacks `<model>.<verb>`: capability_scope_denied
  kNotVisible,    // the row exists outside the caller's scope: answered as "not found"
  kForeignGroups  // the write would put the row into groups the caller cannot see
};

// A row as the rule sees it: its tenant key (store::Tenant::key()) and sync groups.
struct RowScope {
  const std::string& tenant;
  const std::vector<std::string>& groups;
};

// Whether the principal's groups reach `groups` (secret keys reach their whole tenant).
bool reaches_groups(const auth::Principal& principal, const std::vector<std::string>& groups);

Denial read_denial(const auth::Principal& principal, const schema::Model& model, const RowScope& row);
inline bool may_read(const auth::Principal& principal, const schema::Model& model, const RowScope& row) {
  return read_denial(principal, model, row) == Denial::kNone;
}
// The operation part of the rule alone: whether any row of `model` may be read.
bool may_read_model(const auth::Principal& principal, const schema::Model& model);

// `before` is the existing row (nullopt for creates), `after` the row as written (nullopt for
// deletes).
Denial write_denial(const auth::Principal& principal, const schema::Model& model, Verb verb,
                    const std::optional<RowScope>& before, const std::optional<RowScope>& after);

// may_read for the rows of one scan (one model, one tenant): the parts of the rule that do not
// depend on the row are decided once, so a scan of a million rows builds no string per row
// (the bootstrap, issue 17 item 5). may_read(groups) == may_read(principal, model, {tenant, groups}).
class ScanReadRule {
 public:
  ScanReadRule(const auth::Principal& principal, const schema::Model& model, const std::string& tenant);
  bool may_read(const std::vector<std::string>& groups) const {
    return model_and_tenant_readable_ && reaches_groups(principal_, groups);
  }

 private:
  const auth::Principal& principal_;
  bool model_and_tenant_readable_;
};

// Status forms. `not_found` is what the calling path answers for a row that does not exist
// (entity_not_found, model_not_found, mutate_update_entity_not_found, ...): a row outside the
// caller's scope is indistinguishable from a missing one.
Status can_read(const auth::Principal& principal, const schema::Model& model, const RowScope& row,
                const Error& not_found);
Status can_write(const auth::Principal& principal, const schema::Model& model, Verb verb,
                 const std::optional<RowScope>& before, const std::optional<RowScope>& after, const Error& not_found);
// The error for a denial (kNone: none); `param` names the offending request member.
Error denial_error(Denial denial, const schema::Model& model, Verb verb, const Error& not_found, std::string param = {});

}  // namespace ablo::authz
