#include "net/audit_routes.h"

#include <algorithm>
#include <charconv>
#include <map>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "audit/audit.h"
#include <spdlog/spdlog.h>

#include "common/time.h"
#include "net/authority.h"
#include "net/http_json.h"
#include "net/router.h"

namespace ablo::net {

namespace json = boost::json;

namespace {

constexpr int kDefaultPageLimit = 50;

// The rows a principal may read: its tenant's; a capability only those it authored.
store::AuditQuery scoped_query(const auth::Principal& principal) {
  store::AuditQuery query;
  query.tenant = principal.tenant.key();
  if (!principal.secret_key) query.credential_id = principal.credential_id();
  return query;
}

// ISO-8601 or epoch milliseconds.
Result<int64_t> audit_time(const std::string& value, const char* name) {
  if (auto ms = parse_query_digits(value)) return *ms;
  if (auto ms = parse_iso8601_ms(value)) return *ms;
  return fail("invalid_request", fmt::format("{} must be an ISO-8601 time or epoch milliseconds", name), name);
}

Result<int> page_limit(const std::string& value) { return parse_page_limit(value, AuditRoutes::kMaxPageLimit); }

Result<int64_t> page_cursor(const std::string& value) {
  auto cursor = parse_query_digits(value);
  if (!cursor || *cursor < 1) return fail("invalid_request", "cursor must be a nextCursor this route returned", "cursor");
  return *cursor;
}

// The filters of the listing and the export (unknown parameters are ignored, http-api.md §1.1).
Status apply_filters(const HttpRequest& request, store::AuditQuery& query, int& limit,
                     std::optional<int64_t>* cursor) {
  for (const auto& [name, value] : query_pairs(request.target)) {
    if (name == "actorKind" || name == "principalKind") {
      query.actor_kind = value;
    } else if (name == "actorId" || name == "principalId") {
      query.actor_id = value;
    } else if (name == "action" || name == "actionType" || name == "kind") {
      query.action_type = value;
    } else if (name == "model" || name == "modelName") {
      query.model_name = value;
    } else if (name == "since") {
      auto at = audit_time(value, "since");
      if (!at) return tl::unexpected(at.error());
      query.since_ms = *at;
    } else if (name == "until") {
      auto at = audit_time(value, "until");
      if (!at) return tl::unexpected(at.error());
      query.until_ms = *at;
    } else if (name == "limit") {
      auto parsed = page_limit(value);
      if (!parsed) return tl::unexpected(parsed.error());
      limit = *parsed;
    } else if ((name == "cursor" || name == "starting_after") && cursor) {
      auto parsed = page_cursor(value);
      if (!parsed) return tl::unexpected(parsed.error());
      *cursor = *parsed;
    }
  }
  return {};
}

json::array redacted_operations(const json::value& diff_summary) {
  json::array operations;
  if (!diff_summary.is_array()) return operations;
  for (const auto& entry : diff_summary.get_array()) {
    if (!entry.is_object()) continue;
    const auto& op = entry.get_object();
    const auto text = [&](const char* key) {
      const auto* value = op.if_contains(key);
      return value && value->is_string() ? std::string(value->get_string()) : std::string();
    };
    // The diff summary's verbs are 0.49's operation actions (create|update|delete|archive|unarchive).
    json::object out{{"action", text("verb")},
                     {"model", text("model")},
                     {"data", json::object{{"retention", "redacted"}}}};
    if (auto id = text("id"); !id.empty()) out["id"] = id;
    operations.push_back(std::move(out));
  }
  return operations;
}

}  // namespace

void record_capability_event(engine::Engine& engine, const auth::Principal& by, const char* action,
                             const store::CapabilityRecord& capability) {
  // Ids and kinds only: never the token, its hash, or user metadata.
  json::object summary{{"capabilityId", capability.id},
                       {"participantKind", capability.participant_kind},
                       {"participantId", capability.participant_id},
                       {"expiresAt", iso8601_from_ms(capability.expires_at_ms)}};
  if (!capability.parent_id.empty()) summary["parentId"] = capability.parent_id;
  auto recorded = engine.record_audit(by, action, std::move(summary));
  if (!recorded) spdlog::error("audit: {} of {} was not recorded: {}", action, capability.id, recorded.error().message);
}

std::optional<Result<HttpResponse>> AuditRoutes::route(const HttpRequest& request,
                                                       const std::vector<std::string>& parts,
                                                       const auth::Principal& principal) const {
  if (request.method != "GET") return std::nullopt;
  if (!parts.empty() && parts[0] == "v1") {
    if (parts.size() == 2 && parts[1] == "audit") return list(request, principal);
    if (parts.size() == 3 && parts[1] == "audit" && parts[2] == "verify") return verify(request, principal);
    if (parts.size() == 3 && parts[1] == "audit" && parts[2] == "export") return export_csv(request, principal);
    if (parts.size() == 2 && parts[1] == "commits") return list_commits(request, principal);
    if (parts.size() == 3 && parts[1] == "commits") return get_commit(parts[2], principal);
    return std::nullopt;
  }
  // /api/orgs/{slug}/audit[/verify-chain|/export] (the dashboard spellings, docs/audit.md).
  if (parts.size() >= 4 && parts.size() <= 5 && parts[0] == "api" && parts[1] == "orgs" && parts[3] == "audit") {
    if (parts[2] != principal.tenant.org) {
      return Result<HttpResponse>(fail("entity_not_found", fmt::format("no organization '{}'", parts[2])));
    }
    if (parts.size() == 4) return list(request, principal);
    if (parts[4] == "verify-chain" || parts[4] == "verify") return verify(request, principal);
    if (parts[4] == "export") return export_csv(request, principal);
  }
  return std::nullopt;
}

Result<HttpResponse> AuditRoutes::list(const HttpRequest& request, const auth::Principal& principal) const {
  auto query = scoped_query(principal);
  int limit = kDefaultPageLimit;
  std::optional<int64_t> cursor;
  if (auto ok = apply_filters(request, query, limit, &cursor); !ok) return tl::unexpected(ok.error());
  query.descending = true;
  query.before_seq = cursor.value_or(0);
  query.limit = limit + 1;  // one more tells whether another page follows
  auto rows = engine_.audit().rows(query);
  if (!rows) return tl::unexpected(rows.error());
  const bool has_more = static_cast<int>(rows->size()) > limit;
  if (has_more) rows->resize(static_cast<std::size_t>(limit));
  json::array data;
  for (const auto& row : *rows) data.push_back(audit::to_json(row));
  json::value next = has_more && !rows->empty() ? json::value(std::to_string(rows->back().chain_seq)) : nullptr;
  return json_response(200, json::object{{"object", "list"},
                                         {"data", std::move(data)},
                                         {"hasMore", has_more},
                                         {"nextCursor", std::move(next)}});
}

Result<HttpResponse> AuditRoutes::verify(const HttpRequest& request, const auth::Principal& principal) const {
  if (!principal.secret_key) return fail("forbidden", "verifying the audit chain needs a secret (sk_) key");
  int64_t from_seq = 1;
  int64_t budget = kVerifyRowsPerCall;
  for (const auto& [name, value] : query_pairs(request.target)) {
    if (name == "fromSeq") {
      auto parsed = parse_query_digits(value);
      if (!parsed || *parsed < 1) return fail("invalid_request", "fromSeq must be a positive integer", "fromSeq");
      from_seq = *parsed;
    } else if (name == "limit") {
      auto parsed = parse_query_digits(value);
      if (!parsed || *parsed < 1) return fail("invalid_request", "limit must be a positive integer", "limit");
      budget = std::min(*parsed, kVerifyRowsPerCall);
    }
  }
  auto report = engine_.audit().verify(principal.tenant.key(), from_seq, budget);
  if (!report) return tl::unexpected(report.error());
  if (report->broken) {
    const auto& broken = *report->broken;
    return json_response(200, json::object{{"ok", false},
                                           {"brokenAtSeq", broken.broken_at_seq},
                                           {"reason", broken.reason},
                                           {"expectedHash", broken.expected_hash.empty() ? json::value(nullptr)
                                                                                          : json::value(broken.expected_hash)},
                                           {"foundHash", broken.found_hash.empty() ? json::value(nullptr)
                                                                                    : json::value(broken.found_hash)},
                                           {"rowsChecked", report->rows_checked},
                                           {"fromSeq", report->from_seq}});
  }
  json::object body{{"ok", true},
                    {"rowsChecked", report->rows_checked},
                    {"fromSeq", report->from_seq},
                    {"lastSeq", report->last_seq},
                    {"complete", report->complete}};
  if (!report->complete) body["nextFromSeq"] = report->last_seq + 1;
  return json_response(200, body);
}

Result<HttpResponse> AuditRoutes::export_csv(const HttpRequest& request, const auth::Principal& principal) const {
  auto query = scoped_query(principal);
  int unused_limit = kDefaultPageLimit;
  if (auto ok = apply_filters(request, query, unused_limit, nullptr); !ok) return tl::unexpected(ok.error());
  query.descending = false;
  std::string csv = audit::csv_header();
  int written = 0;
  bool truncated = false;
  while (true) {
    query.limit = std::min(500, kExportRowCap - written + 1);
    auto rows = engine_.audit().rows(query);
    if (!rows) return tl::unexpected(rows.error());
    for (const auto& row : *rows) {
      if (written == kExportRowCap) {
        truncated = true;
        break;
      }
      csv += audit::csv_line(row);
      ++written;
      query.after_seq = row.chain_seq;
    }
    if (truncated || static_cast<int>(rows->size()) < query.limit) break;
  }
  HttpResponse response{200, {{"content-type", "text/csv; charset=utf-8"}}, std::move(csv)};
  response.headers.emplace_back("x-ablo-export-rows", std::to_string(written));
  if (truncated) response.headers.emplace_back("x-ablo-export-truncated", "true");
  return response;
}

namespace {

// The 0.49 CommitRecord of an audited commit (commit.ts `commitRecordSchema`, confirmed arm):
// exactly its keys; operations carry `data: {retention: 'redacted'}`, never the values.
json::object commit_record(const audit::AuditRow& row, const json::object& authority) {
  const std::string id = row.commit_id.value_or("");
  const std::string at = iso8601_from_ms(row.occurred_at_ms);
  auto operations = redacted_operations(row.diff_summary);
  const auto ops = static_cast<int64_t>(operations.size());
  return json::object{
      {"status", "confirmed"},
      {"statusAt", at},
      {"lastSyncId", row.last_sync_id},
      {"id", id},
      {"attempts", json::array{json::object{{"id", id}, {"observedAt", at}, {"transport", "internal"},
                                            {"kind", "execution"}}}},
      {"actor", json::object{{"kind", row.actor_kind}, {"id", row.actor_id}}},
      {"authority", authority},
      {"claims", json::array{}},
      {"createdAt", at},
      {"readSet", json::array{}},
      {"operations", std::move(operations)},
      {"receipt", json::object{{"clientTxId", id}, {"serverTxId", std::to_string(row.last_sync_id)}, {"ops", ops}}},
  };
}

}  // namespace

Result<HttpResponse> AuditRoutes::list_commits(const HttpRequest& request, const auth::Principal& principal) const {
  auto query = scoped_query(principal);
  query.action_type = "commit";
  int limit = kDefaultPageLimit;
  std::optional<int64_t> cursor;
  std::optional<std::string> status;
  for (const auto& [name, value] : query_pairs(request.target)) {
    if (name == "actorId") {
      if (value.empty()) return fail("invalid_request", "actorId must not be empty", "actorId");
      query.actor_id = value;
    } else if (name == "status") {
      if (value != "queued" && value != "confirmed" && value != "rejected") {
        return fail("invalid_request", "status must be one of queued, confirmed, rejected", "status");
      }
      status = value;
    } else if (name == "limit") {
      auto parsed = page_limit(value);
      if (!parsed) return tl::unexpected(parsed.error());
      limit = *parsed;
    } else if (name == "cursor") {
      auto parsed = page_cursor(value);
      if (!parsed) return tl::unexpected(parsed.error());
      cursor = *parsed;
    }
  }
  json::array data;
  json::value next = nullptr;
  // Every commit this server keeps was applied: only `confirmed` has members.
  if (!status || *status == "confirmed") {
    query.descending = true;
    query.before_seq = cursor.value_or(0);
    query.limit = limit + 1;
    auto rows = engine_.audit().rows(query);
    if (!rows) return tl::unexpected(rows.error());
    const bool has_more = static_cast<int>(rows->size()) > limit;
    if (has_more) rows->resize(static_cast<std::size_t>(limit));
    std::map<std::string, json::object> authorities;  // per credential, looked up once per page
    for (const auto& row : *rows) {
      if (!row.commit_id) continue;
      auto authority = authorities.find(row.credential_id);
      if (authority == authorities.end()) {
        authority = authorities.emplace(row.credential_id, credential_authority(row, principal)).first;
      }
      data.push_back(commit_record(row, authority->second));
    }
    if (has_more && !rows->empty()) next = std::to_string(rows->back().chain_seq);
  }
  return json_response(200, json::object{{"data", std::move(data)}, {"nextCursor", std::move(next)}});
}

Result<HttpResponse> AuditRoutes::get_commit(const std::string& id, const auth::Principal& principal) const {
  auto query = scoped_query(principal);
  query.action_type = "commit";
  query.commit_id = id;
  query.limit = 1;
  auto rows = engine_.audit().rows(query);
  if (!rows) return tl::unexpected(rows.error());
  // Absent or not the caller's to see: the same answer (0.49 `commits.get` resolves to null).
  if (rows->empty()) return json_response(200, nullptr);
  return json_response(200, commit_record(rows->front(), credential_authority(rows->front(), principal)));
}

// The EffectiveAuthority of the credential that made a commit: its capability's grant, or a
// secret key's whole organization.
json::object AuditRoutes::credential_authority(const audit::AuditRow& row, const auth::Principal& principal) const {
  const auto schema = engine_.schema();
  if (auto capability = auth_.find_capability(principal, row.credential_id)) {
    return authority_json(authority_of(*capability, *schema));
  }
  Authority authority;
  authority.organization_id = principal.tenant.org;
  authority.sync_groups = {"org:" + principal.tenant.org};
  authority.operations = effective_operations({}, *schema);
  authority.participant_kind = row.actor_kind;
  authority.participant_id = row.actor_id;
  return authority_json(authority);
}

}  // namespace ablo::net
