#include "net/authority.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <string_view>

#include <boost/json.hpp>

#include "net/http_json.h"

namespace ablo::net {

namespace json = boost::json;

namespace {

constexpr std::array<std::string_view, 4> kVerbs = {"read", "create", "update", "delete"};

// Models a credential can act on: data-plane models (control-plane ones are never written or
// read through the model routes).
// A key the `<model>.<verb>` form cannot carry (a '.' or whitespace in it) is left out.
bool names_data(const schema::Model& model) {
  const bool spellable = !model.key.empty() && std::none_of(model.key.begin(), model.key.end(), [](char c) {
    return c == '.' || std::isspace(static_cast<unsigned char>(c));
  });
  return !model.control_plane && spellable;
}

void add_unique(std::vector<std::string>& list, std::string value) {
  if (std::find(list.begin(), list.end(), value) == list.end()) list.push_back(std::move(value));
}

}  // namespace

std::vector<std::string> effective_operations(const std::vector<std::string>& allowlist, const schema::Schema& schema) {
  std::vector<std::string> out;
  for (const auto& model : schema.models()) {
    if (!names_data(model)) continue;
    // A probe principal carrying only the allowlist: auth::allows is the one rule of what an
    // entry grants, so the translation can never report more or less than is enforced.
    auth::Principal probe;
    probe.operations = allowlist;
    for (const auto verb : kVerbs) {
      if (auth::allows(probe, model, verb)) add_unique(out, model.key + "." + std::string(verb));
    }
  }
  return out;
}

Authority authority_of(const auth::Principal& principal, const schema::Schema& schema) {
  return Authority{principal.tenant.org, principal.allowed_groups, effective_operations(principal.operations, schema),
                   principal.participant_kind, principal.participant_id};
}

Authority authority_of(const store::CapabilityRecord& capability, const schema::Schema& schema) {
  return Authority{capability.org, capability.sync_groups, effective_operations(capability.operations, schema),
                   capability.participant_kind, capability.participant_id};
}

ProjectBranch project_branch_of(const std::string& organization_id) {
  return ProjectBranch{"proj_" + organization_id, "branch_main"};
}

json::object authority_json(const Authority& authority) {
  const auto where = project_branch_of(authority.organization_id);
  return json::object{{"organizationId", authority.organization_id},
                      {"projectId", where.project_id},
                      {"branchId", where.branch_id},
                      {"syncGroups", string_array(authority.sync_groups)},
                      {"operations", string_array(authority.operations)},
                      {"participantKind", authority.participant_kind},
                      {"participantId", authority.participant_id},
                      {"deliveryPartition", nullptr}};
}

}  // namespace ablo::net
