#include "engine/engine.h"

#include <algorithm>
#include <functional>
#include <future>
#include <mutex>

#include <boost/json.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "authz/authorizer.h"
#include "common/json_number.h"
#include "common/random.h"
#include "common/time.h"
#include "engine/audit_writer.h"
#include "engine/commit_pipeline.h"
#include "schema/sync_groups.h"

namespace ablo::engine {

namespace json = boost::json;

namespace {

constexpr std::size_t kMaxQueriesPerBatch = 16;
constexpr int64_t kMaxQueryLimit = 10000;

const std::vector<std::string> kWhereOps = {"=",    "!=",       "<",     "<=",       ">",      ">=",       "IN",
                                            "NOT IN", "IS",     "IS NOT", "LIKE", "NOT LIKE", "ILIKE", "NOT ILIKE"};

json::object row_json(store::StoredRow&& row, const schema::Model& model) {
  json::object out = std::move(row.data);
  out["__typename"] = model.typename_;
  return out;
}

Result<std::vector<store::RowFilter>> parse_where(const schema::Model& model, const json::value* where) {
  std::vector<store::RowFilter> filters;
  if (!where || where->is_null()) return filters;
  if (!where->is_array()) return fail("invalid_body", "'where' must be an array of clauses", "where");
  for (const auto& clause_value : where->as_array()) {
    if (!clause_value.is_array()) return fail("invalid_body", "each where clause must be an array", "where");
    const auto& clause = clause_value.as_array();
    if ((clause.size() != 2 && clause.size() != 3) || !clause[0].is_string()) {
      return fail("invalid_body", "a where clause is [column, value] or [column, op, value]", "where");
    }
    const std::string column(clause[0].as_string());
    auto field = model.resolve_column(column);
    if (!field) {
      return fail("query_invalid_identifier", fmt::format("model '{}' has no column '{}'", model.key, column), "where");
    }
    store::RowFilter filter{*field, "=", clause.back()};
    if (clause.size() == 3) {
      if (!clause[1].is_string()) return fail("invalid_body", "a where operator must be a string", "where");
      std::string op(clause[1].as_string());
      for (auto& c : op) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      if (std::find(kWhereOps.begin(), kWhereOps.end(), op) == kWhereOps.end()) {
        return fail("query_unsupported_operator", fmt::format("unsupported where operator '{}'", op), "where");
      }
      filter.op = op;
    } else if (clause.back().is_array()) {
      filter.op = "IN";  // object-form filters with array values arrive as 2-tuples (protocol.md §2.6)
    }
    filters.push_back(std::move(filter));
  }
  return filters;
}

}  // namespace

struct Engine::Impl {
  Impl(store::Store& s, fanout::Hub& h, EngineOptions o) : store(s), pipeline(s, h, schema, o) {}

  // Visits the rows of `model` the principal may read and that are in `groups` (the requested
  // view, a subset of the allowed groups), in query order, at most `limit` (0 = no
  // limit), one at a time as the store scans them.
  Status each_visible_row(const auth::Principal& principal, const std::vector<std::string>& groups,
                          store::RowQuery query, int64_t limit, const std::function<bool(json::object&&)>& visit) const {
    int64_t visited = 0;
    query.tenant = principal.tenant.key();
    auto scanned = store.scan_rows(query, [&](store::StoredRow&& row) {
      if (!in_view(principal, groups, *query.model, query.tenant, row)) return true;
      if (!visit(row_json(std::move(row), *query.model))) return false;
      return limit <= 0 || ++visited < limit;
    });
    if (!scanned) return tl::unexpected(scanned.error());
    return {};
  }

  // The same rows, collected.
  Result<json::array> visible_rows(const auth::Principal& principal, const std::vector<std::string>& groups,
                                   store::RowQuery query, int64_t limit) const {
    json::array rows;
    auto scanned = each_visible_row(principal, groups, std::move(query), limit,
                                    [&](json::object&& row) {
                                      rows.push_back(std::move(row));
                                      return true;
                                    });
    if (!scanned) return tl::unexpected(scanned.error());
    return rows;
  }

  // The authorization rule plus the caller's narrower view (requested sync groups).
  static bool in_view(const auth::Principal& principal, const std::vector<std::string>& groups,
                      const schema::Model& model, const std::string& tenant, const store::StoredRow& row) {
    return authz::may_read(principal, model, {tenant, row.groups}) && schema::groups_intersect(row.groups, groups);
  }

  Result<json::value> run_query(const auth::Principal& principal, const std::vector<std::string>& groups,
                                const schema::Schema& schema, const json::value& query_value) const {
    if (!query_value.is_object()) return fail("invalid_body", "each query must be an object", "queries");
    const auto& q = query_value.as_object();
    const auto* model_name = q.if_contains("model");
    if (!model_name || !model_name->is_string()) return fail("invalid_body", "query.model is required", "model");
    const schema::Model* model = schema.resolve(model_name->as_string());
    if (!model) {
      return fail("unknown_model", fmt::format("unknown model '{}'", std::string_view(model_name->as_string())), "model");
    }
    if (!authz::may_read_model(principal, *model)) return tl::unexpected(auth::scope_denied(*model, "read", "model"));
    store::RowQuery query;
    query.model = model;
    auto filters = parse_where(*model, q.if_contains("where"));
    if (!filters) return tl::unexpected(filters.error());
    query.where = std::move(*filters);
    if (const auto* ids = q.if_contains("ids"); ids && ids->is_array()) {  // legacy {model, ids} form
      query.where.push_back({"id", "IN", *ids});
    }
    if (const auto* order_by = q.if_contains("orderBy"); order_by && order_by->is_string()) {
      auto field = model->resolve_column(order_by->as_string());
      if (!field) return fail("query_invalid_identifier", "unknown orderBy column", "orderBy");
      query.order_by = *field;
    }
    if (const auto* order = q.if_contains("order"); order && order->is_string()) {
      query.descending = order->as_string() == "desc" || order->as_string() == "DESC";
    }
    int64_t limit = 0;
    if (const auto* l = q.if_contains("limit"); l && l->is_number()) {
      limit = clamped_int64(*l, 0, kMaxQueryLimit).value_or(0);
    }
    auto rows = visible_rows(principal, groups, query, limit);
    if (!rows) return tl::unexpected(rows.error());
    return json::value(std::move(*rows));
  }

  store::Store& store;
  SchemaHolder schema;
  CommitPipeline pipeline;
  std::mutex forwarder_mutex;  // guards forwarder (set at start, read by every commit)
  std::shared_ptr<CommitForwarder> forwarder;
};

Engine::Engine(store::Store& store, fanout::Hub& hub, EngineOptions options)
    : impl_(std::make_unique<Impl>(store, hub, options)), hub_(hub), tasks_(store), audit_(store, options.audit_key) {}

Engine::~Engine() { stop(); }

Status Engine::reload_schema() {
  auto active = impl_->store.active_schema();
  if (!active) return tl::unexpected(active.error());
  if (!*active || (*active)->hash == impl_->schema.get()->hash()) return {};
  auto parsed = schema::Schema::parse_text((*active)->json_text);
  if (!parsed) return tl::unexpected(parsed.error());
  impl_->schema.set(*parsed);
  return {};
}

namespace engine_start {
// The database's identity, created with it (every node of a cluster reads the same one): lets a
// client tell a wiped or replaced server from one that is merely behind (storeId).
Result<std::string> ensure_store_id(store::Store& store) {
  constexpr const char* kKey = "store_id";
  if (auto put = store.put_setting_if_absent(kKey, random_uuid()); !put) return tl::unexpected(put.error());
  auto id = store.get_setting(kKey);
  if (!id) return tl::unexpected(id.error());
  if (!*id) return tl::unexpected(Error("internal_error", "the store_id setting vanished"));
  return **id;
}
}  // namespace engine_start
using engine_start::ensure_store_id;

Status Engine::start() {
  if (auto loaded = reload_schema(); !loaded) return loaded;
  auto head = impl_->store.head_sync_id();
  if (!head) return tl::unexpected(head.error());
  hub_.set_head(*head);
  auto store_id = ensure_store_id(impl_->store);
  if (!store_id) return tl::unexpected(store_id.error());
  hub_.set_store_id(std::move(*store_id));
  impl_->pipeline.start();
  return {};
}

void Engine::stop() { impl_->pipeline.stop(); }

std::shared_ptr<const schema::Schema> Engine::schema() const { return impl_->schema.get(); }

void Engine::set_write_gate(std::shared_ptr<WriteGate> gate) { impl_->pipeline.set_write_gate(std::move(gate)); }

Result<SchemaPush> Engine::push_schema(const json::value& schema_json, const schema::MigrationHints& hints, bool force,
                                       const auth::Principal* pushed_by) {
  auto parsed = schema::Schema::parse(schema_json);
  if (!parsed) return tl::unexpected(parsed.error());
  std::shared_ptr<const schema::Schema> next = *parsed;
  auto plan = std::make_shared<schema::MigrationPlan>();
  // Planned on the writer thread, against the schema active at that moment, and applied in the
  // same transaction as the new version: a failing step leaves the old schema active.
  auto version = impl_->pipeline.run_exclusive(
      [this, next, plan, &hints, force, pushed_by](store::WriteTransaction& txn) -> Result<int64_t> {
        // Another node may have pushed since we loaded ours; schema pushes are serialized by the
        // store's write transaction, so what is committed now is what we migrate from.
        if (auto fresh = reload_schema(); !fresh) return tl::unexpected(fresh.error());
        const auto previous = impl_->schema.get();
        *plan = schema::diff_schema(previous.get(), *next, hints);
        if (!plan->applicable(force)) {
          Error error("incompatible_change",
                      plan->blockers.empty() ? "the push drops or recasts data; push again with force to accept"
                                             : "the push needs backfill values for new required fields");
          error.details = plan->to_json();
          return tl::unexpected(std::move(error));
        }
        if (auto ok = txn.apply_migration(*previous, *next, *plan); !ok) {
          Error error("migration_failed", "the migration could not be applied: " + ok.error().message);
          error.details = {{"failedStatement", ok.error().message}};
          return tl::unexpected(std::move(error));
        }
        auto installed = txn.install_schema(*next);
        if (!installed || !pushed_by || !audit_.enabled()) return installed;
        // The push's audit row, in the push's transaction: model keys and the plan's size, never
        // its backfill values.
        json::array models;
        for (const auto& model : next->models()) models.emplace_back(model.key);
        json::object summary{{"version", *installed},
                             {"hash", next->hash()},
                             {"models", std::move(models)},
                             {"migrationSteps", static_cast<int64_t>(plan->steps.size())},
                             {"forced", force && !plan->warnings.empty()}};
        AuditChain chain(txn, audit_.key());
        if (auto ok = chain.append(action_audit_row(*pushed_by, "schema.push", std::move(summary), now_ms())); !ok) {
          return tl::unexpected(ok.error());
        }
        return installed;
      },
      [this, next] { impl_->schema.set(next); });
  if (!version) return tl::unexpected(version.error());
  return SchemaPush{*version, std::move(*plan)};
}

Result<std::optional<store::SchemaVersion>> Engine::active_schema_version() const {
  return impl_->store.active_schema();
}

Result<std::vector<store::SchemaVersion>> Engine::schema_versions(int limit) const {
  return impl_->store.schema_versions(limit);
}

namespace {

OnStale on_stale_of(schema::StaleDisposition disposition) {
  switch (disposition) {
    case schema::StaleDisposition::kOverwrite: return OnStale::kForce;
    case schema::StaleDisposition::kNotify: return OnStale::kFlag;
    case schema::StaleDisposition::kReject: break;
  }
  return OnStale::kReject;
}

}  // namespace

// A model's declared `conflict` policy decides what a stale write does when the write names no
// onStale itself: the policy of the committer's participant kind (schema JSON v3 `conflict`).
void apply_conflict_defaults(const schema::Schema& schema, CommitRequest& request) {
  for (auto& op : request.operations) {
    if (op.on_stale) continue;
    const auto* model = schema.resolve(op.model);
    if (!model) continue;
    if (auto declared = model->conflict.for_kind(request.principal.participant_kind)) op.on_stale = on_stale_of(*declared);
  }
}

void Engine::commit(CommitRequest request, CommitCallback done) {
  std::shared_ptr<CommitForwarder> forwarder;
  {
    std::lock_guard lock(impl_->forwarder_mutex);
    forwarder = impl_->forwarder;
  }
  // Attribution to an agent task (http-api.md §6.2): a named task is checked before the commit
  // queues; a capability's implicit task is found by the writer, in the group's transaction
  // (it cannot fail but for the store). A forwarded commit is attributed when it reaches the
  // writer, as the source's worker hands it on (the source itself never sees the task).
  if (request.caused_by_task_id.empty() && !request.principal.capability_id.empty()) {
    request.attribute_to_open_task = true;
  } else {
    auto task = tasks_.attribute(request.principal, request.caused_by_task_id);
    if (!task) {
      done(tl::unexpected(task.error()));
      return;
    }
    request.caused_by_task_id = std::move(*task);
  }
  apply_conflict_defaults(*impl_->schema.get(), request);
  if (forwarder && forwarder->forward(request, done)) return;
  impl_->pipeline.submit_commit(std::move(request), std::move(done));
}

void Engine::commit_here(CommitRequest request, CommitCallback done) {
  impl_->pipeline.submit_commit(std::move(request), std::move(done));
}

void Engine::set_commit_forwarder(std::shared_ptr<CommitForwarder> forwarder) {
  std::lock_guard lock(impl_->forwarder_mutex);
  impl_->forwarder = std::move(forwarder);
}

Result<std::vector<store::UsageRow>> Engine::usage(const std::string& tenant, const std::string& from_day,
                                                   const std::string& to_day) const {
  return impl_->store.usage(tenant, from_day, to_day);
}

Status Engine::record_audit(const auth::Principal& by, std::string action_type, json::value summary) {
  if (!audit_.enabled()) return {};
  auto row = action_audit_row(by, std::move(action_type), std::move(summary), now_ms());
  auto recorded = impl_->pipeline.run_exclusive(
      [this, row = std::move(row)](store::WriteTransaction& txn) -> Result<int64_t> {
        AuditChain chain(txn, audit_.key());
        if (auto ok = chain.append(row); !ok) return tl::unexpected(ok.error());
        return 0;
      },
      nullptr);
  if (!recorded) return tl::unexpected(recorded.error());
  return {};
}

void Engine::record_audit_later(audit::AuditRow row) {
  if (!audit_.enabled()) return;
  impl_->pipeline.enqueue_audit(std::move(row));
}

uint64_t Engine::audit_rows_dropped() const { return impl_->pipeline.audit_rows_dropped(); }

Result<CommitReceipt> Engine::commit_sync(CommitRequest request) {
  std::promise<Result<CommitReceipt>> promise;
  auto future = promise.get_future();
  commit(std::move(request), [&promise](Result<CommitReceipt> result) { promise.set_value(std::move(result)); });
  return future.get();
}

Status Engine::write_bootstrap(const auth::Principal& principal, const std::vector<std::string>& groups,
                               const std::vector<std::string>& models, const TextSink& sink) const {
  const auto schema = impl_->schema.get();
  // The watermark is read before the rows, so every change after it is also in the log.
  const int64_t watermark = hub_.head();
  // Where this credential's next socket starts when it says lastSyncId 0 (Hub::note_bootstrap).
  hub_.note_bootstrap(principal.credential_id(), watermark);
  std::vector<const schema::Model*> selected;
  if (models.empty()) {
    for (const auto& model : schema->models()) {
      if (!model.control_plane && model.load == schema::Load::kInstant && authz::may_read_model(principal, model)) {
        selected.push_back(&model);
      }
    }
  } else {
    for (const auto& name : models) {
      const auto* model = schema->resolve(name);
      // The client drops unknown keys anyway; a model the caller may not read is left out.
      if (!model || model->control_plane || !authz::may_read_model(principal, *model)) continue;
      if (std::find(selected.begin(), selected.end(), model) == selected.end()) selected.push_back(model);
    }
  }
  // Written row by row as the store scans them: a JSON tree of a large table costs several
  // times its text, and the text itself is handed on in pieces. The store writes each row's
  // text from its columns (scan_row_texts: no JSON tree per row, issue 17 item 5).
  std::string text = fmt::format(R"({{"type":"full","lastSyncId":{},)", watermark);
  if (!hub_.store_id().empty()) text += fmt::format(R"("storeId":{},)", json::serialize(json::string(hub_.store_id())));
  text += R"("models":{)";
  if (!sink(text)) return {};
  bool reader_gone = false;
  const std::string tenant = principal.tenant.key();
  for (const auto* model : selected) {
    if (model != selected.front() && !sink(",")) return {};
    if (!sink(json::serialize(json::string(model->typename_))) || !sink(":[")) return {};
    const int64_t limit = model->bootstrap_limit.value_or(0);
    int64_t taken = 0;
    store::RowQuery query;
    query.model = model;
    query.tenant = tenant;
    store::RowTextScan scan;
    scan.type_name = model->typename_;
    const authz::ScanReadRule rule(principal, *model, tenant);
    scan.wanted = [&](const std::vector<std::string>& row_groups) {
      return rule.may_read(row_groups) && schema::groups_intersect(row_groups, groups);
    };
    scan.take = [&](std::string_view row) {
      if ((taken > 0 && !sink(",")) || !sink(row)) {
        reader_gone = true;
        return false;
      }
      ++taken;
      return limit <= 0 || taken < limit;
    };
    auto scanned = impl_->store.scan_row_texts(query, scan);
    if (reader_gone) return {};
    if (!scanned) return tl::unexpected(scanned.error());
    if (!sink("]")) return {};
  }
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  (void)sink(fmt::format(R"(}},"timestamp":{}}})", static_cast<int64_t>(now)));
  return {};
}

Result<std::string> Engine::bootstrap(const auth::Principal& principal, const std::vector<std::string>& groups,
                                      const std::vector<std::string>& models) const {
  std::string text;
  auto written = write_bootstrap(principal, groups, models, [&text](std::string_view piece) {
    text.append(piece);
    return true;
  });
  if (!written) return tl::unexpected(written.error());
  return text;
}

Result<json::object> Engine::query(const auth::Principal& principal, const std::vector<std::string>& groups,
                                   const json::object& body) const {
  const auto* queries = body.if_contains("queries");
  if (!queries || !queries->is_array() || queries->as_array().empty()) {
    return fail("queries_required", "the body needs a non-empty 'queries' array", "queries");
  }
  if (queries->as_array().size() > kMaxQueriesPerBatch) {
    return fail("invalid_body", fmt::format("at most {} queries per batch", kMaxQueriesPerBatch), "queries");
  }
  const auto schema = impl_->schema.get();
  const int64_t watermark = hub_.head();
  json::array results;
  for (const auto& query : queries->as_array()) {
    auto rows = impl_->run_query(principal, groups, *schema, query);
    if (!rows) return tl::unexpected(rows.error());
    results.push_back(std::move(*rows));
  }
  return json::object{{"results", std::move(results)}, {"lastSyncId", watermark}};
}

Result<json::object> Engine::entity(const auth::Principal& principal, const std::vector<std::string>& groups,
                                    const std::string& model_name, const std::string& id) const {
  const auto schema = impl_->schema.get();
  const auto* model = schema->resolve(model_name);
  if (!model) return fail("model_not_found", fmt::format("unknown model '{}'", model_name));
  if (!authz::may_read_model(principal, *model)) return tl::unexpected(auth::scope_denied(*model, "read"));
  const std::string tenant = principal.tenant.key();
  auto row = impl_->store.get_row(*model, tenant, id);
  if (!row) return tl::unexpected(row.error());
  if (!*row || !Impl::in_view(principal, groups, *model, tenant, **row)) {
    return fail("entity_not_found", fmt::format("{} '{}' does not exist", model->key, id));
  }
  return row_json(std::move(**row), *model);
}

Result<ListPage> Engine::list(const auth::Principal& principal, const std::vector<std::string>& groups,
                              const ListRequest& request) const {
  if (!authz::may_read_model(principal, *request.model)) {
    return tl::unexpected(auth::scope_denied(*request.model, "read"));
  }
  ListPage page;
  auto stamp = read_stamp();
  if (!stamp) return tl::unexpected(stamp.error());
  page.stamp = *stamp;
  store::RowQuery query;
  query.model = request.model;
  query.tenant = principal.tenant.key();
  query.where = request.where;
  query.order_by = request.order_by;
  query.descending = request.descending;
  if (request.after) {
    // Rows at or past the cursor value; those equal to it are skipped up to the cursor's id
    // below (the store orders ties by id ascending).
    query.where.push_back({request.order_by, request.descending ? "<=" : ">=", request.after->first});
  }
  auto scanned = impl_->store.scan_rows(query, [&](store::StoredRow&& row) {
    if (!Impl::in_view(principal, groups, *request.model, query.tenant, row)) return true;
    const auto* archived_at = row.data.if_contains("archivedAt");
    const bool archived = archived_at && !archived_at->is_null();
    if (archived ? request.archived == ListRequest::Archived::kExclude
                 : request.archived == ListRequest::Archived::kOnly) {
      return true;
    }
    if (request.after) {
      const auto* value = row.data.if_contains(request.order_by);
      const auto& id = row.data.at("id").as_string();
      if (value && *value == request.after->first && id <= request.after->second) return true;
    }
    if (static_cast<int>(page.rows.size()) == request.limit) {
      page.has_more = true;
      return false;
    }
    page.rows.push_back(std::move(row.data));
    return true;
  });
  if (!scanned) return tl::unexpected(scanned.error());
  return page;
}

Result<std::pair<json::object, int64_t>> Engine::read_row(const auth::Principal& principal,
                                                           const std::vector<std::string>& groups,
                                                           const schema::Model& model, const std::string& id) const {
  if (!authz::may_read_model(principal, model)) return tl::unexpected(auth::scope_denied(model, "read"));
  auto stamp = read_stamp();
  if (!stamp) return tl::unexpected(stamp.error());
  const std::string tenant = principal.tenant.key();
  auto row = impl_->store.get_row(model, tenant, id);
  if (!row) return tl::unexpected(row.error());
  if (!*row || !Impl::in_view(principal, groups, model, tenant, **row)) {
    return fail("model_not_found", fmt::format("{} '{}' does not exist or is out of scope", model.key, id));
  }
  return std::make_pair(std::move((*row)->data), *stamp);
}

Status Engine::authorize_claim(const auth::Principal& principal, const std::string& entity_type,
                               const std::string& id) const {
  const auto schema = impl_->schema.get();
  const auto* model = schema->resolve(entity_type);
  if (!model) return {};
  const std::string tenant = principal.tenant.key();
  auto row = impl_->store.get_row(*model, tenant, id);
  if (!row) return tl::unexpected(row.error());
  const Error not_found("entity_not_found", fmt::format("{} '{}' does not exist", model->key, id), "entityId");
  if (!*row) return authz::can_write(principal, *model, authz::Verb::kUpdate, std::nullopt, std::nullopt, not_found);
  const authz::RowScope scope{tenant, (*row)->groups};
  return authz::can_write(principal, *model, authz::Verb::kUpdate, scope, scope, not_found);
}

Result<bool> Engine::may_read_entity(const auth::Principal& principal, const std::string& entity_type,
                                     const std::string& id) const {
  const auto schema = impl_->schema.get();
  const auto* model = schema->resolve(entity_type);
  if (!model) return principal.secret_key;
  const std::string tenant = principal.tenant.key();
  auto row = impl_->store.get_row(*model, tenant, id);
  if (!row) return tl::unexpected(row.error());
  if (!*row) return principal.secret_key;
  return authz::may_read(principal, *model, {tenant, (*row)->groups});
}

// A read's `stamp` (the readAt its writes should carry) is the store's head, read before the
// rows: with several nodes this node's published head can trail the database by a few ms,
// and a stamp below a write the rows already show would make the next write spuriously stale.
Result<int64_t> Engine::read_stamp() const { return impl_->store.head_sync_id(); }

namespace {

// A log read looks at no more than this many delta ids per request, whatever it finds.
constexpr int64_t kMaxLogScan = 20'000;
constexpr int kLogScanPage = 500;

}  // namespace

Result<LogPage> Engine::log(const auth::Principal& principal, const LogRequest& request) const {
  if (request.model && !authz::may_read_model(principal, *request.model)) {
    return tl::unexpected(auth::scope_denied(*request.model, "read"));
  }
  const auto schema = impl_->schema.get();
  const std::string tenant = principal.tenant.key();
  auto head = read_stamp();
  if (!head) return tl::unexpected(head.error());
  const auto wanted = [&](const store::Delta& delta) {
    if (request.model && delta.model_name != request.model->typename_) return false;
    if (request.action && delta.action != *request.action) return false;
    if (!request.record_id.empty() && delta.model_id != request.record_id) return false;
    if (request.since_ms && delta.created_at_ms < *request.since_ms) return false;
    const auto* model = schema->resolve(delta.model_name);
    return model && authz::may_read(principal, *model, {delta.tenant, delta.sync_groups});
  };
  LogPage page;
  const auto limit = static_cast<std::size_t>(std::max(1, request.limit));
  if (request.after) {
    int64_t from = std::clamp<int64_t>(*request.after, 0, *head);
    while (from < *head && page.deltas.size() < limit && from - *request.after < kMaxLogScan) {
      auto read = impl_->store.read_deltas(tenant, from, *head, kLogScanPage);
      if (!read) return tl::unexpected(read.error());
      if (read->empty()) {
        from = *head;
        break;
      }
      for (auto& delta : *read) {
        from = delta.id;
        if (wanted(delta)) page.deltas.push_back(std::move(delta));
        if (page.deltas.size() == limit) break;
      }
      if (read->size() < static_cast<std::size_t>(kLogScanPage) && page.deltas.size() < limit) from = *head;
    }
    page.position = from;
    page.has_more = from < *head;
    return page;
  }
  // The tail: windows (lo, hi] going back from the head. Delta ids are dense, so a window of
  // w ids holds at most w deltas and one read returns all of it.
  std::vector<store::Delta> newest_first;
  int64_t hi = *head;
  int64_t window = std::max<int64_t>(static_cast<int64_t>(limit) * 4, 256);
  while (hi > 0 && newest_first.size() < limit && *head - hi < kMaxLogScan) {
    const int64_t lo = std::max<int64_t>(0, hi - window);
    auto read = impl_->store.read_deltas(tenant, lo, hi, static_cast<int>(hi - lo));
    if (!read) return tl::unexpected(read.error());
    for (auto it = read->rbegin(); it != read->rend() && newest_first.size() < limit; ++it) {
      if (wanted(*it)) newest_first.push_back(std::move(*it));
    }
    hi = lo;
    window = std::min<int64_t>(window * 2, 5'000);
  }
  page.deltas.assign(std::make_move_iterator(newest_first.rbegin()), std::make_move_iterator(newest_first.rend()));
  page.position = *head;
  return page;
}

}  // namespace ablo::engine
