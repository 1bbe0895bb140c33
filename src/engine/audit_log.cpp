#include "engine/audit_log.h"

#include <algorithm>

#include <boost/json.hpp>

#include "common/time.h"
#include "engine/audit_writer.h"

namespace ablo::engine {

namespace json = boost::json;

namespace {

std::optional<audit::AuditRow> parse_record(const store::AuditRecord& record) {
  boost::system::error_code ec;
  auto parsed = json::parse(record.row_json, ec);
  if (ec || !parsed.is_object()) return std::nullopt;
  auto row = audit::from_json(parsed.as_object(), record.tenant);
  if (!row) return std::nullopt;
  return std::move(*row);
}

// More deltas than one commit can hold: a range beyond it was forged.
constexpr int64_t kMaxDeltasPerAuditedCommit = 100'000;

}  // namespace

Result<std::vector<audit::AuditRow>> AuditLog::rows(const store::AuditQuery& query) const {
  auto records = store_.read_audit(query);
  if (!records) return tl::unexpected(records.error());
  std::vector<audit::AuditRow> rows;
  rows.reserve(records->size());
  for (const auto& record : *records) {
    if (auto row = parse_record(record)) rows.push_back(std::move(*row));
  }
  return rows;
}

// The digest of the commit's deltas as the log holds them now.
Result<std::string> AuditLog::stored_digest_of(const std::string& tenant, const audit::AuditRow& row) const {
  if (row.first_sync_id <= 0 || row.last_sync_id < row.first_sync_id) return delta_digest({});
  const int64_t span = std::min(row.last_sync_id - row.first_sync_id + 1, kMaxDeltasPerAuditedCommit);
  auto deltas = store_.read_deltas(tenant, row.first_sync_id - 1, row.last_sync_id, static_cast<int>(span));
  if (!deltas) return tl::unexpected(deltas.error());
  return delta_digest(*deltas);
}

Result<AuditVerifyReport> AuditLog::verify(const std::string& tenant, int64_t from_seq, int64_t max_rows,
                                           int64_t max_deltas) const {
  AuditVerifyReport report;
  report.from_seq = std::max<int64_t>(from_seq, 1);
  report.last_seq = report.from_seq - 1;
  audit::ChainLink start;
  if (report.from_seq > 1) {
    store::AuditQuery previous{.tenant = tenant, .descending = false, .after_seq = report.from_seq - 2, .limit = 1};
    auto found = store_.read_audit(previous);
    if (!found) return tl::unexpected(found.error());
    if (found->empty() || found->front().chain_seq != report.from_seq - 1) {
      report.broken = audit::ChainBreak{report.from_seq - 1, "seq_gap", {}, {}};
      return report;
    }
    start = audit::ChainLink{report.from_seq - 1, found->front().row_hash};
  }
  audit::ChainVerifier verifier(key_, start);
  int64_t after = report.from_seq - 1;
  int64_t deltas_read = 0;  // commit rows re-read their deltas: the work per call is bounded by both
  while (report.rows_checked < max_rows && deltas_read < max_deltas) {
    const int page = static_cast<int>(std::min<int64_t>(kVerifyPage, max_rows - report.rows_checked));
    auto records = store_.read_audit(store::AuditQuery{.tenant = tenant, .descending = false, .after_seq = after, .limit = page});
    if (!records) return tl::unexpected(records.error());
    bool stopped = false;  // the delta budget ran out inside this page: rows of it remain
    for (const auto& record : *records) {
      if (deltas_read >= max_deltas) {
        stopped = true;
        break;
      }
      auto row = parse_record(record);
      if (!row) {
        report.broken = audit::ChainBreak{record.chain_seq, "malformed_row", {}, {}};
        return report;
      }
      std::optional<std::string> digest;
      if (row->action_type == "commit") {
        if (row->last_sync_id >= row->first_sync_id && row->first_sync_id > 0) {
          deltas_read += row->last_sync_id - row->first_sync_id + 1;
        }
        auto stored = stored_digest_of(tenant, *row);
        if (!stored) return tl::unexpected(stored.error());
        digest = std::move(*stored);
      }
      if (auto broken = verifier.check(record.chain_seq, *row, digest)) {
        report.broken = std::move(broken);
        return report;
      }
      // The indexed hash column must agree with the row: the writer chains new rows to it.
      if (record.row_hash != row->row_hash) {
        report.broken = audit::ChainBreak{record.chain_seq, "hash_mismatch", row->row_hash, record.row_hash};
        return report;
      }
      report.rows_checked = verifier.rows_checked();
      report.last_seq = record.chain_seq;
      after = record.chain_seq;
    }
    if (!stopped && static_cast<int>(records->size()) < page) return report;
  }
  // The budget (rows or deltas) ran out: more rows may follow.
  auto more = store_.read_audit(store::AuditQuery{.tenant = tenant, .descending = false, .after_seq = after, .limit = 1});
  if (!more) return tl::unexpected(more.error());
  report.complete = more->empty();
  return report;
}

Status append_audit_row(store::Store& store, const std::string& key, const auth::Principal& by,
                        std::string action_type, json::value summary) {
  if (key.empty()) return {};
  auto row = action_audit_row(by, std::move(action_type), std::move(summary), now_ms());
  return store.write([&](store::WriteTransaction& txn) { return AuditChain(txn, key).append(row); });
}

}  // namespace ablo::engine
