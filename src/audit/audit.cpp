#include "audit/audit.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "common/hex.h"
#include "common/time.h"

namespace ablo::audit {

namespace json = boost::json;

namespace {

std::string hex(const unsigned char* bytes, std::size_t size) {
  return hex_encode(std::string_view(reinterpret_cast<const char*>(bytes), size));
}

json::value optional_text(const std::optional<std::string>& text) {
  return text ? json::value(*text) : json::value(nullptr);
}

// A JSON string as boost::json::serialize writes it (the bytes the chain hashes must not
// change): '"' and '\\' escaped, \b \t \n \f \r short, other control characters as
// \u00xx, everything else (UTF-8 included) as is. Appended in place: serialize() built a
// string for every key and value of every audited row.
void append_json_string(std::string_view text, std::string& out) {
  out.push_back('"');
  std::size_t plain_from = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(text.data() + plain_from, i - plain_from);
    plain_from = i + 1;
    out.push_back('\\');
    switch (c) {
      case '"': out.push_back('"'); break;
      case '\\': out.push_back('\\'); break;
      case '\b': out.push_back('b'); break;
      case '\t': out.push_back('t'); break;
      case '\n': out.push_back('n'); break;
      case '\f': out.push_back('f'); break;
      case '\r': out.push_back('r'); break;
      default:
        out += "u00";
        append_hex(out, c);
    }
  }
  out.append(text.data() + plain_from, text.size() - plain_from);
  out.push_back('"');
}

void append_canonical(const json::value& value, std::string& out);

void append_canonical_object(const json::object& object, std::string& out) {
  // Sorted by key through pointers: the members are not copied.
  std::vector<const json::key_value_pair*> members;
  members.reserve(object.size());
  for (const auto& member : object) members.push_back(&member);
  std::sort(members.begin(), members.end(), [](const auto* a, const auto* b) { return a->key() < b->key(); });
  out.push_back('{');
  bool first = true;
  for (const auto* member : members) {
    if (!first) out.push_back(',');
    first = false;
    append_json_string(member->key(), out);
    out.push_back(':');
    append_canonical(member->value(), out);
  }
  out.push_back('}');
}

void append_canonical(const json::value& value, std::string& out) {
  switch (value.kind()) {
    case json::kind::object:
      append_canonical_object(value.get_object(), out);
      return;
    case json::kind::array: {
      out.push_back('[');
      bool first = true;
      for (const auto& element : value.get_array()) {
        if (!first) out.push_back(',');
        first = false;
        append_canonical(element, out);
      }
      out.push_back(']');
      return;
    }
    case json::kind::double_: {
      // A number keeps one spelling however a store returns it: PostgreSQL's jsonb gives back
      // 2.0 as 2 (an integer to a parser), so an integral double within 2^53 is written as one.
      const double number = value.get_double();
      if (std::trunc(number) == number && std::fabs(number) < 9007199254740992.0) {
        out += std::to_string(static_cast<int64_t>(number));
        return;
      }
      out += json::serialize(value);
      return;
    }
    case json::kind::string:
      append_json_string(value.get_string(), out);
      return;
    case json::kind::int64:
      out += std::to_string(value.get_int64());
      return;
    case json::kind::uint64:
      out += std::to_string(value.get_uint64());
      return;
    case json::kind::bool_:
      out += value.get_bool() ? "true" : "false";
      return;
    case json::kind::null:
      out += "null";
      return;
  }
}

// HMAC-SHA256 of prefix || message as hex. The MAC context is kept per thread and re-initialised
// with its key for each message: fetching the algorithm and setting up a context (what the
// one-shot HMAC() does every call) cost more than hashing a row, and the commit writer hashes one
// row per commit.
std::string hmac_sha256_hex(std::string_view key, std::string_view prefix, std::string_view message) {
  struct Cache {
    std::string key;
    EVP_MAC_CTX* ctx = nullptr;
    ~Cache() { EVP_MAC_CTX_free(ctx); }
  };
  static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  thread_local Cache cache;
  bool ready = false;
  if (mac && cache.ctx && cache.key == key) {
    ready = EVP_MAC_init(cache.ctx, nullptr, 0, nullptr) == 1;  // same key: reused
  }
  if (mac && !ready) {
    EVP_MAC_CTX_free(cache.ctx);
    cache.ctx = EVP_MAC_CTX_new(mac);
    char digest_name[] = "SHA256";
    const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest_name, 0), OSSL_PARAM_construct_end()};
    ready = cache.ctx && EVP_MAC_init(cache.ctx, reinterpret_cast<const unsigned char*>(key.data()), key.size(), params) == 1;
    cache.key = ready ? std::string(key) : std::string();
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  std::size_t size = 0;
  if (ready && EVP_MAC_update(cache.ctx, reinterpret_cast<const unsigned char*>(prefix.data()), prefix.size()) == 1 &&
      EVP_MAC_update(cache.ctx, reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1 &&
      EVP_MAC_final(cache.ctx, digest, &size, sizeof digest) == 1) {
    return hex(digest, size);
  }
  // The provider could not be used (never expected): the one-shot form gives the same bytes.
  const std::string whole = std::string(prefix) + std::string(message);
  unsigned int one_shot_size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(whole.data()),
       whole.size(), digest, &one_shot_size);
  return hex(digest, one_shot_size);
}

// Reads an optional string member: absent or null is nullopt; another type is an error.
bool read_optional(const json::object& object, std::string_view name, std::optional<std::string>& out) {
  const auto* value = object.if_contains(name);
  if (!value || value->is_null()) return true;
  if (!value->is_string()) return false;
  out = std::string(value->get_string());
  return true;
}

bool read_text(const json::object& object, std::string_view name, std::string& out) {
  const auto* value = object.if_contains(name);
  if (!value || !value->is_string()) return false;
  out = std::string(value->get_string());
  return true;
}

bool read_int(const json::object& object, std::string_view name, int64_t& out) {
  const auto* value = object.if_contains(name);
  if (!value || !value->is_int64()) {
    if (value && value->is_uint64() && value->get_uint64() <= static_cast<uint64_t>(INT64_MAX)) {
      out = static_cast<int64_t>(value->get_uint64());
      return true;
    }
    return false;
  }
  out = value->get_int64();
  return true;
}

}  // namespace

json::array diff_summary_json(const std::vector<DiffOp>& ops) {
  json::array out;
  out.reserve(ops.size());
  for (const auto& op : ops) {
    json::array fields;
    for (const auto& field : op.fields) fields.emplace_back(field);
    out.emplace_back(json::object{{"model", op.model}, {"id", op.id}, {"verb", op.verb}, {"fields", std::move(fields)}});
  }
  return out;
}

json::object to_json(const AuditRow& row, bool with_row_hash) {
  json::object out{
      {"chainSeq", row.chain_seq},
      {"occurredAt", iso8601_from_ms(row.occurred_at_ms)},
      {"actorKind", row.actor_kind},
      {"actorId", row.actor_id},
      {"onBehalfOfKind", optional_text(row.on_behalf_of_kind)},
      {"onBehalfOfId", optional_text(row.on_behalf_of_id)},
      {"credentialId", row.credential_id},
      {"credentialLabel", optional_text(row.credential_label)},
      {"delegationChainRoot", optional_text(row.delegation_chain_root)},
      {"causedByTaskId", optional_text(row.caused_by_task_id)},
      {"actionType", row.action_type},
      {"modelName", optional_text(row.model_name)},
      {"diffSummary", row.diff_summary},
      {"commitId", optional_text(row.commit_id)},
      {"firstSyncId", row.first_sync_id},
      {"lastSyncId", row.last_sync_id},
      {"deltaDigest", optional_text(row.delta_digest)},
      {"prevHash", row.prev_hash},
  };
  if (with_row_hash) out["rowHash"] = row.row_hash;
  return out;
}

Result<AuditRow> from_json(const json::object& object, const std::string& tenant) {
  AuditRow row;
  row.tenant = tenant;
  std::string occurred_at;
  bool ok = read_int(object, "chainSeq", row.chain_seq) && read_text(object, "occurredAt", occurred_at) &&
            read_text(object, "actorKind", row.actor_kind) && read_text(object, "actorId", row.actor_id) &&
            read_optional(object, "onBehalfOfKind", row.on_behalf_of_kind) &&
            read_optional(object, "onBehalfOfId", row.on_behalf_of_id) &&
            read_text(object, "credentialId", row.credential_id) &&
            read_optional(object, "credentialLabel", row.credential_label) &&
            read_optional(object, "delegationChainRoot", row.delegation_chain_root) &&
            read_optional(object, "causedByTaskId", row.caused_by_task_id) &&
            read_text(object, "actionType", row.action_type) && read_optional(object, "modelName", row.model_name) &&
            read_optional(object, "commitId", row.commit_id) && read_int(object, "firstSyncId", row.first_sync_id) &&
            read_int(object, "lastSyncId", row.last_sync_id) &&
            read_optional(object, "deltaDigest", row.delta_digest) && read_text(object, "prevHash", row.prev_hash);
  if (!ok) return fail("invalid_body", "an audit row is missing a member or has one of the wrong type");
  auto ms = parse_iso8601_ms(occurred_at);
  if (!ms) return fail("invalid_body", "an audit row's occurredAt is not a timestamp");
  row.occurred_at_ms = *ms;
  if (const auto* diff = object.if_contains("diffSummary")) row.diff_summary = *diff;
  (void)read_text(object, "rowHash", row.row_hash);
  return row;
}

std::string canonical_json(const json::value& value) {
  std::string out;
  append_canonical(value, out);
  return out;
}

std::string canonical_row_json(const AuditRow& row) {
  std::string out;
  out.reserve(640);
  char separator = '{';
  const auto key = [&](std::string_view name) {
    out.push_back(separator);
    separator = ',';
    append_json_string(name, out);
    out.push_back(':');
  };
  const auto text = [&](std::string_view name, std::string_view value) {
    key(name);
    append_json_string(value, out);
  };
  const auto optional = [&](std::string_view name, const std::optional<std::string>& value) {
    key(name);
    if (value) append_json_string(*value, out);
    else out += "null";
  };
  const auto number = [&](std::string_view name, int64_t value) {
    key(name);
    out += std::to_string(value);
  };
  // The members of to_json(row, false), in the byte order of their keys (canonical_json's order).
  text("actionType", row.action_type);
  text("actorId", row.actor_id);
  text("actorKind", row.actor_kind);
  optional("causedByTaskId", row.caused_by_task_id);
  number("chainSeq", row.chain_seq);
  optional("commitId", row.commit_id);
  text("credentialId", row.credential_id);
  optional("credentialLabel", row.credential_label);
  optional("delegationChainRoot", row.delegation_chain_root);
  optional("deltaDigest", row.delta_digest);
  key("diffSummary");
  append_canonical(row.diff_summary, out);
  number("firstSyncId", row.first_sync_id);
  number("lastSyncId", row.last_sync_id);
  optional("modelName", row.model_name);
  text("occurredAt", iso8601_from_ms(row.occurred_at_ms));
  optional("onBehalfOfId", row.on_behalf_of_id);
  optional("onBehalfOfKind", row.on_behalf_of_kind);
  text("prevHash", row.prev_hash);
  out.push_back('}');
  return out;
}

std::string compute_row_hash(std::string_view key, const AuditRow& row) {
  // prevHash || canonical row: the prevHash is also inside the row, but hashing it first keeps
  // the formula the spec states (and an HMAC input that starts with the link it extends).
  return "sha256:" + hmac_sha256_hex(key, row.prev_hash, canonical_json(to_json(row, false)));
}

void DeltaDigest::add(int64_t id, char action, std::string_view model_name, std::string_view model_id,
                      const json::object* data) {
  // One canonical JSON array per delta, [id,"A","model","row id",data], written straight into
  // the digest's text: the row data is not copied into a temporary array first.
  text_.push_back('[');
  text_ += std::to_string(id);
  text_.push_back(',');
  append_json_string(std::string_view(&action, 1), text_);
  text_.push_back(',');
  append_json_string(model_name, text_);
  text_.push_back(',');
  append_json_string(model_id, text_);
  text_.push_back(',');
  if (data) append_canonical_object(*data, text_);
  else text_ += "null";
  text_ += "]\n";
}

std::string DeltaDigest::finish() const {
  // Fetched once: the one-shot SHA256() looks the implementation up in the provider on every
  // call (OpenSSL 3), which cost more than hashing a commit's deltas.
  static EVP_MD* const fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (fetched && EVP_Digest(text_.data(), text_.size(), digest, &size, fetched, nullptr) == 1) {
    return "sha256:" + hex(digest, size);
  }
  SHA256(reinterpret_cast<const unsigned char*>(text_.data()), text_.size(), digest);
  return "sha256:" + hex(digest, SHA256_DIGEST_LENGTH);
}

ChainLink seal(std::string_view key, AuditRow& row, const ChainLink& link, std::string* stored_json) {
  row.chain_seq = link.seq + 1;
  row.prev_hash = link.hash;
  // The canonical text is built once: hashed, then (with rowHash added) stored.
  std::string canonical = canonical_row_json(row);
  row.row_hash = "sha256:" + hmac_sha256_hex(key, row.prev_hash, canonical);
  if (stored_json) {
    canonical.pop_back();  // the closing brace of the row object
    canonical += ",\"rowHash\":\"" + row.row_hash + "\"}";
    *stored_json = std::move(canonical);
  }
  return ChainLink{row.chain_seq, row.row_hash};
}

std::optional<ChainBreak> ChainVerifier::check(int64_t stored_seq, const AuditRow& row,
                                               const std::optional<std::string>& recomputed_digest) {
  const int64_t expected_seq = link_.seq + 1;
  // A missing row shows as the next stored seq jumping past the expected one: the break is at
  // the seq that is gone.
  if (stored_seq != expected_seq) return ChainBreak{expected_seq, "seq_gap", {}, {}};
  if (row.chain_seq != stored_seq) return ChainBreak{stored_seq, "seq_mismatch", {}, {}};
  if (row.prev_hash != link_.hash) return ChainBreak{stored_seq, "prev_hash_mismatch", link_.hash, row.prev_hash};
  const std::string expected = compute_row_hash(key_, row);
  if (expected != row.row_hash) return ChainBreak{stored_seq, "hash_mismatch", expected, row.row_hash};
  if (recomputed_digest && row.delta_digest != recomputed_digest) {
    return ChainBreak{stored_seq, "delta_digest_mismatch", row.delta_digest.value_or(""), *recomputed_digest};
  }
  link_ = ChainLink{stored_seq, row.row_hash};
  ++rows_checked_;
  return std::nullopt;
}

std::string csv_field(std::string_view text) {
  std::string value(text);
  if (!value.empty() && (value[0] == '=' || value[0] == '+' || value[0] == '-' || value[0] == '@')) {
    value.insert(value.begin(), '\'');
  }
  if (value.find_first_of(",\"\r\n") == std::string::npos) return value;
  std::string quoted = "\"";
  for (char c : value) {
    if (c == '"') quoted.push_back('"');
    quoted.push_back(c);
  }
  quoted.push_back('"');
  return quoted;
}

std::string csv_header() {
  return "chainSeq,occurredAt,actorKind,actorId,onBehalfOfKind,onBehalfOfId,credentialId,credentialLabel,"
         "delegationChainRoot,causedByTaskId,actionType,modelName,diffSummary,commitId,firstSyncId,lastSyncId,"
         "deltaDigest,prevHash,rowHash\r\n";
}

std::string csv_line(const AuditRow& row) {
  const auto opt = [](const std::optional<std::string>& text) { return csv_field(text.value_or("")); };
  return fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\r\n", row.chain_seq,
                     iso8601_from_ms(row.occurred_at_ms), csv_field(row.actor_kind), csv_field(row.actor_id),
                     opt(row.on_behalf_of_kind), opt(row.on_behalf_of_id), csv_field(row.credential_id),
                     opt(row.credential_label), opt(row.delegation_chain_root), opt(row.caused_by_task_id),
                     csv_field(row.action_type), opt(row.model_name), csv_field(canonical_json(row.diff_summary)),
                     opt(row.commit_id), row.first_sync_id, row.last_sync_id, opt(row.delta_digest),
                     csv_field(row.prev_hash), csv_field(row.row_hash));
}

std::string generate_key() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("RAND_bytes failed");
  return hex(bytes, sizeof bytes);
}

Result<std::string> read_key_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail("internal_error", fmt::format("cannot read the audit secret file {}", path.string()));
  std::string key{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  key.resize(key.find_last_not_of(" \t\n\v\f\r") + 1);  // npos + 1 == 0: all blank
  if (key.size() < 32) {
    return fail("internal_error", fmt::format("the audit secret in {} is shorter than 32 bytes", path.string()));
  }
  return key;
}

Result<std::string> load_or_create_key_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) return read_key_file(path);
  const std::string key = generate_key();
  // O_EXCL: two processes starting on one data directory agree on the first file written.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return read_key_file(path);
    return fail("internal_error", fmt::format("cannot create the audit secret file {}: {}", path.string(),
                                              std::strerror(errno)));
  }
  const std::string line = key + "\n";
  const bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!written) return fail("internal_error", fmt::format("cannot write the audit secret file {}", path.string()));
  return key;
}

}  // namespace ablo::audit
