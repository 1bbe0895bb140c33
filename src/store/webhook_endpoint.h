#pragma once
// The stored state of one outbound webhook endpoint (issue 13, datasource.md §4): its
// registration, its signing secrets, its delivery cursor over the tenant's delta log, and the
// lease that makes exactly one node deliver for it at a time.
#include <cstdint>
#include <string>
#include <vector>

namespace ablo::store {

struct WebhookEndpointRecord {
  std::string id;      // we_…
  std::string tenant;  // Tenant::key()
  std::string url;
  std::vector<std::string> enabled_events;  // "*", a model name, or a type like "task.updated"
  std::string description;
  std::string secret;           // whsec_…
  std::string previous_secret;  // still signs until previous_secret_expires_at_ms (a roll's grace)
  int64_t previous_secret_expires_at_ms = 0;
  bool enabled = true;
  std::string disabled_reason;
  int64_t cursor = 0;  // the last delta id delivered (or skipped by the filter)
  int retry_count = 0;  // failed attempts of the current batch
  int64_t next_attempt_at_ms = 0;
  int64_t last_success_at_ms = 0;
  std::string last_error;
  int64_t created_at_ms = 0;
  std::string lease_owner;  // the node delivering for it
  int64_t lease_until_ms = 0;
};

// What a delivery attempt changes; written only while `owner` still holds the lease.
struct WebhookAttemptRecord {
  std::string id;
  std::string owner;
  int64_t cursor = 0;
  int retry_count = 0;
  int64_t next_attempt_at_ms = 0;
  int64_t last_success_at_ms = 0;  // 0: unchanged
  std::string last_error;
  bool disable = false;  // retries exhausted
  std::string disabled_reason;
};

}  // namespace ablo::store
