// What a Data Source endpoint answers and what is pushed to POST /api/source/events
// (datasource.md §1.3, §1.6, §1.8): the strict readers of source/contract.h on any JSON, and
// the signature header checks of source/signature.h on any header text. The first byte picks
// the reader; none may crash, and a reader that accepts must return what it promised.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <boost/json/parse.hpp>

#include "source/contract.h"
#include "source/signature.h"

namespace {

void check_headers_of(std::string_view text) {
  // Three header values separated by newlines: id, timestamp, signature.
  ablo::source::ReceivedHeaders headers;
  const auto first = text.find('\n');
  const auto second = first == std::string_view::npos ? first : text.find('\n', first + 1);
  headers.id = std::string(text.substr(0, first));
  if (first != std::string_view::npos) headers.timestamp = std::string(text.substr(first + 1, second - first - 1));
  if (second != std::string_view::npos) headers.signature = std::string(text.substr(second + 1));
  auto checked = ablo::source::check_headers(headers, 1'700'000'000);
  if (checked && checked->signatures.empty()) std::abort();  // accepted without a v1 signature
  if (checked) (void)ablo::source::signed_with("sk_test_fuzz", headers.id, *checked, text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 5 == 4) {
    check_headers_of(text);
    return 0;
  }
  boost::system::error_code ec;
  const auto value = boost::json::parse(text, ec);
  if (ec) return 0;
  namespace contract = ablo::source::contract;
  switch (data[0] % 5) {
    case 0: {
      auto page = contract::read_events(value);
      if (page && page->events.size() > contract::kMaxEventsPerPage) std::abort();
      if (page) {
        for (const auto& event : page->events) {
          if (event.id.empty() || event.entity_id.empty() || !contract::is_operation_type(event.type)) std::abort();
        }
      }
      break;
    }
    case 1: {
      auto rows = contract::read_commit(value);
      if (rows && rows->size() > contract::kMaxRowsPerPage) std::abort();
      break;
    }
    case 2: {
      auto page = contract::read_list(value);
      if (page && page->rows.size() > contract::kMaxRowsPerPage) std::abort();
      break;
    }
    default:
      (void)contract::read_load(value);
  }
  return 0;
}
