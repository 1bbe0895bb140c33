#include "net/model_routes.h"

#include <algorithm>
#include <cmath>
#include <iterator>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "auth/keys.h"
#include "authz/authorizer.h"
#include "common/hex.h"
#include "common/json_member.h"
#include "common/json_number.h"
#include "common/random.h"
#include "coord/wire.h"
#include "errors/registry.h"
#include "net/authority.h"
#include "net/dialect.h"
#include "net/http_json.h"
#include "net/model_claim.h"
#include "net/receipt_codec.h"
#include "net/router.h"
#include "schema/openapi.h"
#include "schema/schema.h"

namespace ablo::net {

namespace json = boost::json;

namespace {

constexpr int kMaxListLimit = 100;
constexpr std::size_t kMaxIdempotencyKeyLength = 255;

// The request's dialect; the router refused unsupported versions before any route ran.
Dialect dialect_of_routed(const HttpRequest& request) { return dialect_of(request).value_or(Dialect::kIntents); }

// Idempotency key precedence: header, body idempotencyKey, body clientTxId (http-api.md §3.4).
// A 0.49 client sends the key in the header only (its bodies have no such members).
Result<std::string> idempotency_key(const HttpRequest& request, const json::object& body) {
  std::string key = request.header("idempotency-key");
  if (dialect_of_routed(request) == Dialect::kIntents) {
    if (key.empty()) key = string_member(body, "idempotencyKey");
    if (key.empty()) key = string_member(body, "clientTxId");
  }
  if (key.size() > kMaxIdempotencyKeyLength) {
    return fail("idempotency_key_too_long", "an idempotency key is at most 255 characters", "Idempotency-Key");
  }
  return key;
}

// "Same request" = same route and same canonical body once the key fields are removed.
std::string request_fingerprint(const HttpRequest& request, json::object body) {
  body.erase("idempotencyKey");
  body.erase("clientTxId");
  return auth::sha256_hex(request.method + " " + path_of(request.target) + " " + schema::canonical_json(body));
}

// The read guard for scoped capabilities: `<model>.read` (http-api.md §6.1); the rows' groups
// are checked by the engine with the same rule (authz/authorizer.h).
Status check_read(const auth::Principal& principal, const schema::Model& model) {
  if (authz::may_read_model(principal, model)) return {};
  return tl::unexpected(auth::scope_denied(model, "read"));
}

// The members of a 0.49 POST /v1/commits body (a strict object on the client's side too).
constexpr std::string_view kClaimsCommitMembers[] = {"operations", "reads", "track"};

Status check_claims_commit_members(const json::object& body) {
  for (const auto& [name, value] : body) {
    if (std::find(std::begin(kClaimsCommitMembers), std::end(kClaimsCommitMembers), name) ==
        std::end(kClaimsCommitMembers)) {
      return fail("commit_operation_invalid",
                  fmt::format("unknown member '{}': a commit body has operations, reads and track only", name),
                  std::string(name));
    }
  }
  return {};
}

// Members of a model-write body that are not row data when the body is a flat row.
constexpr std::string_view kWriteControlMembers[] = {"id",   "idempotencyKey", "intent", "claim",   "onStale", "readAt",
                                                     "reads", "track",         "fenceToken", "clientTxId"};

bool is_write_control_member(std::string_view name) {
  return std::find(std::begin(kWriteControlMembers), std::end(kWriteControlMembers), name) !=
         std::end(kWriteControlMembers);
}

// The claim a model write is made under: `claim` (0.49) or `intent` (0.9.1), both a claim id.
std::string claim_of_write(const json::object& body) {
  std::string claim = string_member(body, "claim");
  return claim.empty() ? string_member(body, "intent") : claim;
}

std::string lower(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// A list filter's query-string value as the field's JSON type (http-api.md §4.2).
Result<json::value> coerce_filter(const schema::Model& model, const std::string& field, const std::string& text) {
  const auto* declared = model.field(field);
  if (!declared) return json::value(text);  // base fields (id, createdAt, ...) are strings
  switch (declared->type) {
    case schema::FieldType::kBoolean:
      if (text == "true" || text == "false") return json::value(text == "true");
      return fail("invalid_request", fmt::format("filter '{}' must be true or false", field), field);
    case schema::FieldType::kNumber: {
      char* end = nullptr;
      const double number = std::strtod(text.c_str(), &end);
      if (text.empty() || *end != '\0' || !std::isfinite(number)) {
        return fail("invalid_request", fmt::format("filter '{}' must be a number", field), field);
      }
      if (number == std::floor(number) && std::fabs(number) < 9e15) return json::value(static_cast<int64_t>(number));
      return json::value(number);
    }
    default:
      return json::value(text);
  }
}

// Opaque keyset cursor: hex of [order value, id].
std::string encode_cursor(const json::value& value, const std::string& id) {
  return hex_encode(json::serialize(json::array{value, json::value(id)}));
}

Result<std::pair<json::value, std::string>> decode_cursor(const std::string& cursor) {
  const auto malformed = [] { return fail("invalid_request", "starting_after is not a cursor from this list", "starting_after"); };
  auto text = hex_decode(cursor);
  if (!text) return malformed();
  boost::system::error_code ec;
  auto parsed = json::parse(*text, ec);
  if (ec || !parsed.is_array() || parsed.as_array().size() != 2 || !parsed.as_array()[1].is_string()) return malformed();
  return std::make_pair(parsed.as_array()[0], std::string(parsed.as_array()[1].as_string()));
}

// One {id, stamp} per listed row (0.49 `evidence`): the page's stamp, read before the rows,
// is a safe readAt for each of them.
json::array list_evidence(const json::array& rows, int64_t stamp) {
  json::array evidence;
  for (const auto& row : rows) {
    const auto* id = row.as_object().if_contains("id");
    evidence.push_back(json::object{{"id", id ? *id : json::value("")}, {"stamp", stamp}});
  }
  return evidence;
}

json::array claim_records(const std::vector<coord::Claim>& claims) {
  json::array out;
  for (const auto& claim : claims) out.push_back(coord::http_record(claim, -1));
  return out;
}

}  // namespace

ModelRoutes::ModelRoutes(engine::Engine& engine, coord::Coordinator& coordinator)
    : engine_(engine), coordinator_(coordinator) {}

std::optional<Result<HttpResponse>> ModelRoutes::route(const HttpRequest& request, const std::vector<std::string>& parts,
                                                       const auth::Principal& principal) const {
  const auto& method = request.method;
  if (parts.size() == 2 && parts[1] == "commits" && method == "POST") return create_commit(request, principal);
  if (parts.size() == 2 && parts[1] == "openapi.json" && method == "GET") {
    // Generated from the live schema; the server URL is the one the caller reached.
    schema::OpenApiOptions options;
    if (auto host = request.header("host"); !host.empty()) options.server_url = "http://" + host;
    return Result<HttpResponse>(json_response(200, schema::openapi_document(*engine_.schema(), options)));
  }
  if (parts.size() < 3 || parts.size() > 4 || parts[1] != "models") return std::nullopt;
  const auto* model = engine_.schema()->resolve(parts[2]);
  if (!model || model->control_plane) {
    return Result<HttpResponse>(fail("model_not_found", fmt::format("unknown model '{}'", parts[2]), "model"));
  }
  if (parts.size() == 3) {
    if (method == "GET") return list(request, *model, principal);
    if (method == "POST") return write(request, engine::OpType::kCreate, *model, std::nullopt, principal);
    return std::nullopt;
  }
  if (method == "GET") return retrieve(request, *model, parts[3], principal);
  if (method == "PATCH") return write(request, engine::OpType::kUpdate, *model, parts[3], principal);
  if (method == "DELETE") return write(request, engine::OpType::kDelete, *model, parts[3], principal);
  return std::nullopt;
}

Result<HttpResponse> ModelRoutes::create_commit(const HttpRequest& request, const auth::Principal& principal) const {
  auto body = parse_object_body(request.body);
  if (!body) return tl::unexpected(body.error());
  if (dialect_of_routed(request) == Dialect::kClaims) {
    if (auto ok = check_claims_commit_members(*body); !ok) return tl::unexpected(ok.error());
  }
  if (body->contains("operation")) {
    if (body->contains("operations")) {
      return fail("commit_operations_ambiguous", "send either 'operation' or 'operations', not both", "operations");
    }
    (*body)["operations"] = json::array{body->at("operation")};
  }
  auto key = idempotency_key(request, *body);
  if (!key) return tl::unexpected(key.error());
  auto commit = engine::parse_commit_payload(*body);
  if (!commit) return tl::unexpected(commit.error());
  // Commit-level readAt/onStale are the defaults for operations that carry none.
  auto defaults = engine::parse_stale_guard(*body);
  if (!defaults) return tl::unexpected(defaults.error());
  for (auto& op : commit->operations) {
    if (!op.read_at) op.read_at = defaults->read_at;
    if (!op.on_stale) op.on_stale = defaults->on_stale;
  }
  if (auto ok = check_claims_held(commit->operations, principal); !ok) return tl::unexpected(ok.error());
  commit->principal = principal;
  commit->client_tx_id = key->empty() ? "tx_" + random_uuid() : *key;
  if (!key->empty()) commit->request_fingerprint = request_fingerprint(request, *body);
  return run_commit(std::move(*commit), request);
}

// An operation's `claimId` names a claim it is made under, as a model write's `claim`/`intent`
// does: it must be the caller's and active (fence tokens are carried, not yet enforced).
Status ModelRoutes::check_claims_held(const std::vector<engine::Operation>& operations,
                                      const auth::Principal& principal) const {
  for (std::size_t i = 0; i < operations.size(); ++i) {
    const auto& claim = operations[i].claim_id;
    if (claim.empty()) continue;
    if (!coordinator_.renew(coord::participant_of(principal, {}), claim)) {
      return fail("claim_lost", fmt::format("claim '{}' is not held by this caller", claim),
                  fmt::format("operations[{}].claimId", i));
    }
  }
  return {};
}

Result<HttpResponse> ModelRoutes::write(const HttpRequest& request, engine::OpType type, const schema::Model& model,
                                        std::optional<std::string> id, const auth::Principal& principal) const {
  auto body = parse_object_body(request.body, type == engine::OpType::kDelete);
  if (!body) return tl::unexpected(body.error());
  auto key = idempotency_key(request, *body);
  if (!key) return tl::unexpected(key.error());
  engine::Operation op;
  op.type = type;
  op.model = model.key;
  if (type == engine::OpType::kCreate) {
    op.id = string_member(*body, "id");
    if (op.id.empty()) op.id = random_uuid();  // openapi: the server generates one when omitted
  } else {
    op.id = *id;  // the path is authoritative; a body id is ignored
  }
  if (type != engine::OpType::kDelete) {
    if (const auto* data = body->if_contains("data"); data && !data->is_null()) {
      if (!data->is_object()) return fail("invalid_body", "'data' must be an object", "data");
      op.input = data->as_object();
    } else {
      // A flat row, as clients generated from the published OpenAPI send it (http-api.md §4.3).
      for (const auto& [name, value] : *body) {
        if (!is_write_control_member(name)) op.input[name] = value;
      }
    }
  }
  auto guard = engine::parse_stale_guard(*body);
  if (!guard) return tl::unexpected(guard.error());
  op.read_at = guard->read_at;
  op.on_stale = guard->on_stale;
  op.transaction_id = key->empty() ? std::string() : "http:" + *key;
  if (const auto* fence = body->if_contains("fenceToken"); fence && !fence->is_null()) {
    op.fence_token = exact_int64(*fence);
    if (!op.fence_token) return fail("invalid_body", "'fenceToken' must be an integer", "fenceToken");
  }
  auto reads = engine::parse_read_premises(*body);
  if (!reads) return tl::unexpected(reads.error());

  // `claim` (0.49) / `intent` (0.9.1) names a claim the write is made under: it must be the
  // caller's and active.
  op.claim_id = claim_of_write(*body);
  if (!op.claim_id.empty()) {
    if (!coordinator_.renew(coord::participant_of(principal, {}), op.claim_id)) {
      return fail("claim_lost", fmt::format("claim '{}' is not held by this caller", op.claim_id),
                  body->contains("claim") ? "claim" : "intent");
    }
  }
  engine::CommitRequest commit;
  commit.principal = principal;
  commit.reads = std::move(*reads);
  commit.client_tx_id = key->empty() ? "tx_" + random_uuid() : *key;
  if (!key->empty()) commit.request_fingerprint = request_fingerprint(request, *body);
  commit.operations.push_back(std::move(op));
  return run_commit(std::move(commit), request);
}

HttpResponse ModelRoutes::run_commit(engine::CommitRequest commit, const HttpRequest& request) const {
  // Without a socket the echo is routed by the caller's own groups (http-api.md §3.2).
  const std::string client_tx_id = commit.client_tx_id;
  const int ops = static_cast<int>(commit.operations.size());
  const Dialect dialect = dialect_of_routed(request);
  const auth::Principal principal = commit.principal;
  auto receipt = engine_.commit_sync(std::move(commit));
  if (receipt) {
    const json::object authority =
        dialect == Dialect::kClaims ? authority_json(authority_of(principal, *engine_.schema())) : json::object{};
    return json_response(200, receipt_json(*receipt, dialect, authority));
  }
  // 0.49 reads a rejection from the error envelope of a non-2xx answer alone.
  if (dialect == Dialect::kClaims) return error_response(receipt.error(), request);
  // One body for both readers: the error envelope and a rejected commit receipt (§3.9).
  HttpResponse response = error_response(receipt.error(), request);
  auto body = json::parse(response.body).as_object();
  body["object"] = "commit_receipt";
  body["clientTxId"] = client_tx_id;
  body["serverTxId"] = "";
  body["success"] = false;
  body["status"] = "rejected";
  body["lastSyncId"] = engine_.head();
  body["ops"] = ops;
  body["error"] = errors::wire_error(receipt.error());
  response.body = json::serialize(body);
  return response;
}

Result<HttpResponse> ModelRoutes::list(const HttpRequest& request, const schema::Model& model,
                                       const auth::Principal& principal) const {
  if (auto ok = check_read(principal, model); !ok) return tl::unexpected(ok.error());
  engine::ListRequest list;
  list.model = &model;
  for (const auto& [name, value] : query_pairs(request.target)) {
    if (name == "limit") {
      char* end = nullptr;
      const long limit = std::strtol(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || limit < 1) {
        return fail("invalid_request", "limit must be an integer between 1 and 100", "limit");
      }
      list.limit = static_cast<int>(std::min<long>(limit, kMaxListLimit));
    } else if (name == "order") {
      if (value != "asc" && value != "desc") return fail("invalid_request", "order must be asc or desc", "order");
      list.descending = value == "desc";
    } else if (name == "order_by" || name == "orderBy") {
      auto field = model.resolve_column(value);
      if (!field) return fail("query_invalid_identifier", fmt::format("'{}' has no field '{}'", model.key, value), "order_by");
      list.order_by = *field;
    } else if (name == "archived") {
      // Archived rows are left out unless asked for: archived=true (only them) or all.
      if (value != "true" && value != "false" && value != "all") {
        return fail("invalid_request", "archived must be true, false or all", "archived");
      }
      list.archived = value == "true"  ? engine::ListRequest::Archived::kOnly
                      : value == "all" ? engine::ListRequest::Archived::kInclude
                                       : engine::ListRequest::Archived::kExclude;
    } else if (name == "starting_after") {
      auto cursor = decode_cursor(value);
      if (!cursor) return tl::unexpected(cursor.error());
      list.after = std::move(*cursor);
    } else {
      auto field = model.resolve_column(name);
      if (!field) return fail("query_invalid_identifier", fmt::format("'{}' has no field '{}'", model.key, name), name);
      auto coerced = coerce_filter(model, *field, value);
      if (!coerced) return tl::unexpected(coerced.error());
      if (*field == "archivedAt") list.archived = engine::ListRequest::Archived::kInclude;
      // A repeated filter (?status=a&status=b) matches any of its values.
      auto same = std::find_if(list.where.begin(), list.where.end(), [&](const auto& f) { return f.field == *field; });
      if (same == list.where.end()) {
        list.where.push_back({*field, "=", std::move(*coerced)});
      } else {
        if (same->op == "=") same->value = json::array{same->value};
        same->op = "IN";
        same->value.as_array().push_back(std::move(*coerced));
      }
    }
  }
  auto page = engine_.list(principal, principal.allowed_groups, list);
  if (!page) return tl::unexpected(page.error());
  json::value next_cursor = nullptr;
  if (page->has_more && !page->rows.empty()) {
    const auto& last = page->rows.back();
    const auto* value = last.if_contains(list.order_by);
    next_cursor = encode_cursor(value ? *value : json::value(nullptr), std::string(last.at("id").as_string()));
  }
  json::array data;
  for (auto& row : page->rows) data.push_back(std::move(row));
  if (dialect_of(request).value_or(Dialect::kIntents) == Dialect::kClaims) {
    return json_response(200, json::object{{"object", "list"},
                                           {"model", model.key},
                                           {"evidence", list_evidence(data, page->stamp)},
                                           {"data", std::move(data)},
                                           {"has_more", page->has_more},
                                           {"next_cursor", std::move(next_cursor)},
                                           {"stamp", page->stamp}});
  }
  return json_response(200, json::object{{"object", "list"},
                                         {"model", lower(model.typename_)},
                                         {"data", std::move(data)},
                                         {"has_more", page->has_more},
                                         {"next_cursor", std::move(next_cursor)},
                                         {"stamp", page->stamp}});
}

Result<HttpResponse> ModelRoutes::retrieve(const HttpRequest& request, const schema::Model& model,
                                           const std::string& id, const auth::Principal& principal) const {
  if (auto ok = check_read(principal, model); !ok) return tl::unexpected(ok.error());
  const bool claims_dialect = dialect_of(request).value_or(Dialect::kIntents) == Dialect::kClaims;
  // Read before the row, like the row's own stamp: a later write to it has a higher id.
  const int64_t absent_stamp = engine_.head();
  auto row = engine_.read_row(principal, principal.allowed_groups, model, id);
  if (!row && !(claims_dialect && row.error().code == "model_not_found")) return tl::unexpected(row.error());
  // Reads are never gated by a claim; the active claims ride along (http-api.md §4.4).
  std::vector<coord::Claim> active;
  if (row) {
    for (const auto& claim : coordinator_.list(principal.tenant.key(), model.key, id, "")) {
      if (claim.status == coord::ClaimStatus::kActive) active.push_back(claim);
    }
  }
  if (!claims_dialect) {
    return json_response(200, json::object{{"object", "model"},
                                           {"model", lower(model.typename_)},
                                           {"id", id},
                                           {"data", std::move(row->first)},
                                           {"stamp", row->second},
                                           {"claims", claim_records(active)}});
  }
  // `stamp` is the log head read before the row: every delta of the row is at or below it,
  // so readAt = stamp passes until another participant changes the row after this read.
  json::array claims;
  for (const auto& claim : active) claims.push_back(model_claim_json(claim, model, -1));
  return json_response(200, json::object{{"object", "model"},
                                         {"model", model.key},
                                         {"id", id},
                                         {"data", row ? json::value(std::move(row->first)) : json::value(nullptr)},
                                         {"stamp", row ? row->second : absent_stamp},
                                         {"claims", std::move(claims)}});
}

}  // namespace ablo::net
