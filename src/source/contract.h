#pragma once
// The JSON of the Data Source contract (datasource.md §1.5–§1.8): the request bodies Ablo signs
// and sends, and strict readers of what an endpoint answers or pushes. Readers bound what they
// accept and name the first thing that is wrong (invalid_request), never half-read a document.
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "common/result.h"
#include "source/adapter.h"

namespace ablo::source::contract {

// Events accepted from one page or one push; a larger page is refused, not truncated (a
// truncated page would move the cursor past events never applied).
inline constexpr std::size_t kMaxEventsPerPage = 1'000;
inline constexpr std::size_t kMaxRowsPerPage = 10'000;

std::string load_request(const std::string& model, const std::string& id, const Scope& scope);
std::string list_request(const std::string& model, const ListQuery& query, const Scope& scope);
std::string commit_request(const ChangeSet& change_set);
std::string events_request(const std::optional<std::string>& cursor, int limit);

// {"row": {...} | null}
Result<std::optional<boost::json::object>> read_load(const boost::json::value& response);
// {"rows": [...], "nextCursor"?} or a bare array
Result<ListPage> read_list(const boost::json::value& response);
// {"rows": [...]} (or {"deltas": [{model, id, type, data}]}): the rows, in operation order.
Result<std::vector<boost::json::object>> read_commit(const boost::json::value& response);
// {"events": [...], "nextCursor"?}: also the body of a push to POST /api/source/events.
Result<EventsPage> read_events(const boost::json::value& response);

bool is_operation_type(std::string_view type);

}  // namespace ablo::source::contract
