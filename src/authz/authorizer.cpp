#include "authz/authorizer.h"

#include <algorithm>

#include <fmt/format.h>

namespace ablo::authz {

std::string_view verb_name(Verb verb) {
  switch (verb) {
    case Verb::kRead:
      return "read";
    case Verb::kCreate:
      return "create";
    case Verb::kUpdate:
      return "update";
    case Verb::kDelete:
      return "delete";
  }
  return "read";
}

bool reaches_groups(const auth::Principal& principal, const std::vector<std::string>& groups) {
  if (principal.secret_key) return true;  // org:<org>: every row of the tenant
  const auto& allowed = principal.allowed_groups;
  return std::any_of(groups.begin(), groups.end(), [&](const std::string& group) {
    return std::find(allowed.begin(), allowed.end(), group) != allowed.end();
  });
}

bool may_read_model(const auth::Principal& principal, const schema::Model& model) {
  return auth::allows(principal, model, verb_name(Verb::kRead));
}

namespace {

// The scope part of the rule: tenant and groups, without the operation.
bool sees(const auth::Principal& principal, const RowScope& row) {
  return row.tenant == principal.tenant.key() && reaches_groups(principal, row.groups);
}

}  // namespace

Denial read_denial(const auth::Principal& principal, const schema::Model& model, const RowScope& row) {
  if (!may_read_model(principal, model)) return Denial::kOperation;
  return sees(principal, row) ? Denial::kNone : Denial::kNotVisible;
}

ScanReadRule::ScanReadRule(const auth::Principal& principal, const schema::Model& model, const std::string& tenant)
    : principal_(principal),
      model_and_tenant_readable_(may_read_model(principal, model) && tenant == principal.tenant.key()) {}

Denial write_denial(const auth::Principal& principal, const schema::Model& model, Verb verb,
                    const std::optional<RowScope>& before, const std::optional<RowScope>& after) {
  if (!auth::allows(principal, model, verb_name(verb))) return Denial::kOperation;
  // Checked first: a row the caller cannot see must look missing, whatever the write was.
  if (before && !sees(principal, *before)) return Denial::kNotVisible;
  if (after && !sees(principal, *after)) return Denial::kForeignGroups;
  return Denial::kNone;
}

Error denial_error(Denial denial, const schema::Model& model, Verb verb, const Error& not_found, std::string param) {
  switch (denial) {
    case Denial::kNone:
      break;
    case Denial::kOperation:
      return auth::scope_denied(model, verb_name(verb), std::move(param));
    case Denial::kNotVisible:
      return not_found;
    case Denial::kForeignGroups: {
      Error error("capability_scope_denied",
                  fmt::format("this capability may not {} '{}' rows outside its sync groups", verb_name(verb), model.key),
                  std::move(param));
      error.details = {{"requiredCapability", boost::json::object{{"scope", model.key + "." + std::string(verb_name(verb))}}}};
      return error;
    }
  }
  return Error("internal_error", "no denial");
}

Status can_read(const auth::Principal& principal, const schema::Model& model, const RowScope& row,
                const Error& not_found) {
  const auto denial = read_denial(principal, model, row);
  if (denial == Denial::kNone) return {};
  return tl::unexpected(denial_error(denial, model, Verb::kRead, not_found));
}

Status can_write(const auth::Principal& principal, const schema::Model& model, Verb verb,
                 const std::optional<RowScope>& before, const std::optional<RowScope>& after, const Error& not_found) {
  const auto denial = write_denial(principal, model, verb, before, after);
  if (denial == Denial::kNone) return {};
  return tl::unexpected(denial_error(denial, model, verb, not_found));
}

}  // namespace ablo::authz
