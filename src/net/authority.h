#pragma once
// EffectiveAuthority (the 0.49 client's `effectiveAuthoritySchema`): what a credential may do,
// as the commit receipt's `authority`, /api/auth/identity's `authority` and the capability
// mint's `scope` report it. Its `operations` are `<model>.<read|create|update|delete>` only:
// an allowlist entry of another form grants nothing (auth::allows) and is left out; an empty
// allowlist (unrestricted) is spelled out as every model of the schema times the four verbs.
#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include "auth/auth_service.h"
#include "schema/schema.h"
#include "store/store.h"

namespace ablo::net {

struct Authority {
  std::string organization_id;
  std::vector<std::string> sync_groups;
  std::vector<std::string> operations;  // "<model key>.<verb>", verbs read|create|update|delete
  std::string participant_kind;         // user | agent | system
  std::string participant_id;
};

// `allowlist` as the credential stores it ("<any model spelling>.<verb>"; empty = everything).
std::vector<std::string> effective_operations(const std::vector<std::string>& allowlist, const schema::Schema& schema);

// The project and branch every 0.49 encoder reports for an organization: this server has one
// project and one branch per organization. Non-null strings, because the 0.49 reactive client
// refuses to start on a null branchId. The one definition of both.
struct ProjectBranch {
  std::string project_id;
  std::string branch_id;
};
ProjectBranch project_branch_of(const std::string& organization_id);

Authority authority_of(const auth::Principal& principal, const schema::Schema& schema);
Authority authority_of(const store::CapabilityRecord& capability, const schema::Schema& schema);

// {organizationId, projectId, branchId (project_branch_of), syncGroups, operations,
//  participantKind, participantId, deliveryPartition:null}
boost::json::object authority_json(const Authority& authority);

}  // namespace ablo::net
