#pragma once
// The seam between the engine and a customer's canonical data (datasource.md §1.11, §3.1).
//
// Storage modes: `hosted` (our store is the database), `source` (a customer endpoint speaking
// the signed Data Source contract, http_adapter.h) and `selfHosted` (the customer's own
// PostgreSQL, reached directly, pg_adapter.h). Both non-hosted modes are a DataAdapter; the
// SourceService (service.h) drives one per registered source and keeps our store as a read
// cache that is never stale past a confirmed write: every confirmed commit's canonical rows
// and every event of the feed are applied to it as ordinary deltas.
//
// Rows cross this seam field-keyed (schema field names, camelCase, plus `id` and the system
// fields createdAt / updatedAt / archivedAt when the source keeps them), never column-keyed:
// the adapter is the translation boundary.
//
// Threading: an adapter is used by one thread at a time (its source's worker), but for
// wait_for_events (below).
//
// Errors: a call that may succeed when repeated (network, timeout, 5xx, 408, 429, a lost
// database) fails with `source_network_error` (retryable); a refusal (other 4xx, a contract
// violation) with a permanent code. details.httpStatus / details.sourceError carry what the
// source said, when it said something.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "common/result.h"

namespace ablo::source {

enum class Mode { kHosted, kSelfHosted, kSource };
std::string_view to_string(Mode mode);  // hosted | selfHosted | source

// Who a request is made for (datasource.md §1.5 `scope`): informational for the source, which
// is the only side that can enforce it.
struct Scope {
  std::string participant_id;
  std::string participant_kind;  // user | agent | system
  std::string organization_id;
  std::vector<std::string> required_sync_groups;
  bool test_mode = false;  // `mode: "test"` for sandbox keys
  boost::json::object to_json() const;
};

// One operation of a commit as the source receives it (§1.5 SourceOperation).
struct Operation {
  std::string type;   // CREATE | UPDATE | DELETE | ARCHIVE | UNARCHIVE
  std::string model;  // the schema model key
  std::string id;
  boost::json::object input;  // field-keyed partial row (CREATE: the new row's fields)
  std::string transaction_id;
  std::optional<int64_t> read_at;
  std::string on_stale;  // "" | reject | force | flag | merge
};

// A commit: applied atomically and at most once per client_tx_id (the source's ledger).
struct ChangeSet {
  std::string client_tx_id;  // never empty
  std::vector<Operation> operations;
  Scope scope;
};

// `list` query (§1.5 SourceListQuery). `where` tuples are [field, value] or [field, op, value].
struct ListQuery {
  boost::json::array where;
  std::optional<int> limit;
  std::string order_by;  // "" = the source's order
  bool descending = false;
  std::string cursor;  // "" = from the start
};

struct ListPage {
  std::vector<boost::json::object> rows;
  std::optional<std::string> next_cursor;  // nullopt: no more pages
};

// One change reported by the source's outbox (§1.8).
struct Event {
  std::string id;  // unique; a re-delivery carries the same id
  std::string model;
  std::string entity_id;
  std::string type;  // CREATE | UPDATE | DELETE | ARCHIVE | UNARCHIVE
  std::optional<boost::json::object> data;  // the row after the change; nullopt for DELETE
  std::string organization_id;  // "" = the source's own organization
  std::string client_tx_id;     // "" = a write made outside Ablo
  std::optional<int64_t> occurred_at_ms;
};

struct EventsPage {
  std::vector<Event> events;  // oldest first
  std::optional<std::string> next_cursor;  // nullopt: drained for this round, keep the cursor
};

class DataAdapter {
 public:
  virtual ~DataAdapter() = default;
  virtual Mode mode() const = 0;

  // One row by id, or nullopt when the source has none.
  virtual Result<std::optional<boost::json::object>> load(const std::string& model, const std::string& id,
                                                          const Scope& scope) = 0;
  virtual Result<ListPage> list(const std::string& model, const ListQuery& query, const Scope& scope) = 0;
  // Applies the change set atomically, once per client_tx_id (a repeat returns the first
  // answer), and answers the canonical rows: one per operation, in order (a DELETE's row may
  // be just {id}).
  virtual Result<std::vector<boost::json::object>> commit(const ChangeSet& change_set) = 0;
  // The outbox after `cursor` (nullopt: from the start), oldest first, about `limit` events.
  virtual Result<EventsPage> events(const std::optional<std::string>& cursor, int limit) = 0;

  // Waits until new events may be there or `timeout` passed, returning early when `stop`
  // becomes true (checked at least every 100 ms). A source that can be woken (a PostgreSQL
  // LISTEN) returns as soon as it is; the default just waits. The one call that may run while
  // another thread uses the adapter (the poller waits while commits are forwarded): it must
  // touch nothing the other calls use.
  virtual void wait_for_events(std::chrono::milliseconds timeout, const std::atomic<bool>& stop);
};

}  // namespace ablo::source
