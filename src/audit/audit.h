#pragma once
// The audit trail (http-api.md §6.4): one attributed row per commit (and per other audited
// action), chained per tenant so that editing, deleting or reordering a row — or a delta of an
// audited commit — is detected by a verify walk at the exact chainSeq.
//
//   rowHash = "sha256:" + hex(HMAC-SHA256(key, prevHash || canonical-JSON(row without rowHash)))
//
// The chain is keyed (HMAC, not a bare SHA-256) so that someone who can edit the database but
// not read the server's audit secret cannot recompute the hashes after an edit. The first row
// of a tenant links to kGenesisHash. Pure logic only: no storage, no I/O except the key file
// helpers at the bottom.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "common/result.h"

namespace ablo::audit {

inline const std::string kGenesisHash = "sha256:" + std::string(64, '0');

// One operation of an audited commit as the diff summary lists it: which row, what was done,
// and the NAMES of the fields it wrote — never their values (the audit trail must not become a
// second copy of customer data).
struct DiffOp {
  std::string model;  // the schema key
  std::string id;
  std::string verb;  // create | update | delete | archive | unarchive
  std::vector<std::string> fields;
};

struct AuditRow {
  std::string tenant;  // store::Tenant::key()
  int64_t chain_seq = 0;
  int64_t occurred_at_ms = 0;
  std::string actor_kind;  // user | agent | system
  std::string actor_id;
  std::optional<std::string> on_behalf_of_kind;
  std::optional<std::string> on_behalf_of_id;
  std::string credential_id;  // the capability, or the secret key used directly
  std::optional<std::string> credential_label;
  std::optional<std::string> delegation_chain_root;  // null for system / API-key principals
  std::optional<std::string> caused_by_task_id;
  std::string action_type;                // commit | capability.mint | capability.revoke | key.create | schema.push | ...
  std::optional<std::string> model_name;  // the LLM model, when known; never the data model
  boost::json::value diff_summary;        // commit: [{model,id,verb,fields}]; others: an object of names/ids or null
  std::optional<std::string> commit_id;   // the commit's clientTxId
  int64_t first_sync_id = 0;
  int64_t last_sync_id = 0;
  std::optional<std::string> delta_digest;  // DeltaDigest of the commit's deltas
  std::string prev_hash;
  std::string row_hash;
};

boost::json::array diff_summary_json(const std::vector<DiffOp>& ops);

// The row as the API shows it (camelCase, nulls explicit). Without `with_row_hash` it is what
// the hash covers.
boost::json::object to_json(const AuditRow& row, bool with_row_hash = true);
// Reads back a row stored as to_json; invalid_body when a member is missing or mistyped.
Result<AuditRow> from_json(const boost::json::object& object, const std::string& tenant);

// Objects with keys sorted (byte order), no whitespace; numbers and strings as boost::json
// serializes them. Deterministic for any value, so a row hashes the same after a round trip
// through the store.
std::string canonical_json(const boost::json::value& value);

// canonical_json(to_json(row, false)), written straight from the row: the commit writer seals
// a row per commit, and building the object only to sort and print it cost more than the hash.
std::string canonical_row_json(const AuditRow& row);

// "sha256:" + hex(HMAC-SHA256(key, prev_hash || canonical_json(to_json(row, false)))).
std::string compute_row_hash(std::string_view key, const AuditRow& row);

// A digest over a commit's deltas in id order: any edit of one (action, model, row id, data) or
// a missing/extra delta changes it. Fed from the deltas as written, and again from sync_deltas
// when verifying.
class DeltaDigest {
 public:
  void add(int64_t id, char action, std::string_view model_name, std::string_view model_id,
           const boost::json::object* data);
  std::string finish() const;  // "sha256:" + hex
  bool empty() const { return text_.empty(); }

 private:
  std::string text_;
};

// The last link of a tenant's chain: what the next row's prev_hash and chain_seq follow.
struct ChainLink {
  int64_t seq = 0;  // 0: no row yet
  std::string hash = kGenesisHash;
};

// Stamps `row` as the successor of `link` (chain_seq, prev_hash, row_hash) and returns the new
// link. `stored_json`, when given, receives the row's JSON with its rowHash (the canonical text
// that was hashed, plus rowHash): what the store keeps, without building the JSON again.
ChainLink seal(std::string_view key, AuditRow& row, const ChainLink& link, std::string* stored_json = nullptr);

struct ChainBreak {
  int64_t broken_at_seq = 0;
  std::string reason;  // hash_mismatch | prev_hash_mismatch | seq_gap | seq_mismatch | delta_digest_mismatch | malformed_row
  std::string expected_hash;
  std::string found_hash;
};

// Walks a tenant's chain in stored seq order, one row at a time (so a caller can stream pages).
class ChainVerifier {
 public:
  ChainVerifier(std::string key, ChainLink start) : key_(std::move(key)), link_(std::move(start)) {}
  // `stored_seq` is the seq the row is stored under; `recomputed_digest` the digest of the
  // commit's deltas as they are now (nullopt: not a commit row). A break is final.
  std::optional<ChainBreak> check(int64_t stored_seq, const AuditRow& row,
                                  const std::optional<std::string>& recomputed_digest);
  const ChainLink& link() const { return link_; }
  int64_t rows_checked() const { return rows_checked_; }

 private:
  std::string key_;
  ChainLink link_;
  int64_t rows_checked_ = 0;
};

// CSV (RFC 4180: fields with a comma, quote or line break are quoted, quotes doubled). The
// header and one line per row, each ending in "\r\n". Formula-leading characters (= + - @) are
// prefixed with a quote so a spreadsheet does not evaluate a row's text.
std::string csv_header();
std::string csv_line(const AuditRow& row);
std::string csv_field(std::string_view text);

// The audit secret. From a file (its whole content, trailing whitespace trimmed; at least 32
// bytes), or generated into `path` (32 random bytes as hex, mode 0600) when that file is absent.
Result<std::string> read_key_file(const std::filesystem::path& path);
Result<std::string> load_or_create_key_file(const std::filesystem::path& path);
// A fresh random secret (64 hex characters).
std::string generate_key();

}  // namespace ablo::audit
