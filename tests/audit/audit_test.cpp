// The audit chain's pure logic (audit/audit.h): canonical JSON, the keyed row hash, the verify
// walk (any single edit, deletion or swap of rows is detected at the exact seq), CSV, key files.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <limits>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include "audit/audit.h"

namespace ablo::audit {
namespace {

namespace json = boost::json;

const std::string kKey = "0123456789abcdef0123456789abcdef-test-key";

AuditRow sample_row(int i) {
  AuditRow row;
  row.tenant = "org_1/test";
  row.occurred_at_ms = 1'780'000'000'000 + i;
  row.actor_kind = i % 2 ? "agent" : "user";
  row.actor_id = "actor_" + std::to_string(i % 3);
  row.credential_id = "cap_" + std::to_string(i % 4);
  row.action_type = "commit";
  row.diff_summary = diff_summary_json({DiffOp{"tasks", "t" + std::to_string(i), "update", {"title", "status"}}});
  row.commit_id = "ctx_" + std::to_string(i);
  row.first_sync_id = 10 * i + 1;
  row.last_sync_id = 10 * i + 1;
  row.delta_digest = "sha256:" + std::string(64, 'a');
  return row;
}

// A sealed chain of n rows, as the writer makes it.
std::vector<AuditRow> make_chain(int n) {
  std::vector<AuditRow> rows;
  ChainLink link;
  for (int i = 0; i < n; ++i) {
    rows.push_back(sample_row(i));
    link = seal(kKey, rows.back(), link);
  }
  return rows;
}

// Verifies rows stored under `seqs` (the stored seq column), as the verify walk reads them.
std::optional<ChainBreak> verify(const std::vector<std::pair<int64_t, AuditRow>>& stored) {
  ChainVerifier verifier(kKey, ChainLink{});
  for (const auto& [seq, row] : stored) {
    if (auto broken = verifier.check(seq, row, std::nullopt)) return broken;
  }
  return std::nullopt;
}

std::vector<std::pair<int64_t, AuditRow>> as_stored(const std::vector<AuditRow>& rows) {
  std::vector<std::pair<int64_t, AuditRow>> stored;
  for (const auto& row : rows) stored.emplace_back(row.chain_seq, row);
  return stored;
}

TEST(AuditCanonicalJson, SortsKeysAtEveryDepthWithoutWhitespace) {
  const auto value = json::parse(R"({"b": [ {"z": 1, "a": null} ], "a": "x\"y", "c": 1.5})");
  EXPECT_EQ(canonical_json(value), R"({"a":"x\"y","b":[{"a":null,"z":1}],"c":1.5E0})");
}

TEST(AuditCanonicalJson, SpellsAnIntegralNumberOneWayWhateverItsType) {
  // jsonb returns 2.0 as 2 and -0.0 as 0: the digest of a delta must not change with the store.
  EXPECT_EQ(canonical_json(json::parse("[2.0, -3.0, 0.0]")), "[2,-3,0]");
  EXPECT_EQ(canonical_json(json::parse("[2.0]")), canonical_json(json::parse("[2]")));
  EXPECT_EQ(canonical_json(json::value(uint64_t{7})), "7");
  EXPECT_EQ(canonical_json(json::parse("1e300")), canonical_json(json::parse("1e300")));
  EXPECT_EQ(canonical_json(json::parse("0.5")), "5E-1");
}

// Rows hashed before canonical_json wrote strings itself must verify after: every byte value
// (control characters, quote, backslash, DEL, UTF-8) is spelled as boost::json::serialize does,
// in keys and values, and so are integers, booleans and null.
TEST(AuditCanonicalJson, SpellsStringsAndScalarsExactlyAsBoostJsonSerializes) {
  std::string every_byte;
  for (int c = 1; c < 256; ++c) every_byte.push_back(static_cast<char>(c));
  const std::string utf8 = "\xc3\xa9t\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x99\x82";
  for (const std::string& text : {every_byte, utf8, std::string(), std::string("plain"), std::string(1, '\0')}) {
    EXPECT_EQ(canonical_json(json::value(text)), json::serialize(json::value(text)));
    json::object keyed;
    keyed[text] = text;
    EXPECT_EQ(canonical_json(keyed), json::serialize(keyed));
  }
  for (const json::value& scalar : {json::value(int64_t{-42}), json::value(std::numeric_limits<int64_t>::min()),
                                    json::value(std::numeric_limits<uint64_t>::max()),
                                    json::value(true), json::value(false), json::value(nullptr)}) {
    EXPECT_EQ(canonical_json(scalar), json::serialize(scalar));
  }
}

// The writer seals rows through canonical_row_json, verify recomputes through
// canonical_json(to_json(row, false)): both must give the same bytes, whichever members are set.
TEST(AuditCanonicalJson, ARowWrittenStraightEqualsTheCanonicalJsonOfItsObject) {
  AuditRow bare;  // every optional member null, no diff summary, empty texts
  AuditRow full = sample_row(5);
  full.prev_hash = kGenesisHash;
  full.chain_seq = 6;
  full.on_behalf_of_kind = "user";
  full.on_behalf_of_id = "usr \"quoted\"\n";
  full.credential_label = "label\u00e9";
  full.delegation_chain_root = "usr_1";
  full.caused_by_task_id = "task_1";
  full.model_name = "claude";
  full.diff_summary = json::parse(R"({"z":[1,2.5,{"b":null,"a":true}],"a":"x"})");
  AuditRow action = sample_row(2);
  action.action_type = "capability.mint";
  action.commit_id.reset();
  action.delta_digest.reset();
  for (const AuditRow* row : {&bare, &full, &action}) {
    EXPECT_EQ(canonical_row_json(*row), canonical_json(to_json(*row, false)));
  }
  auto sealed = make_chain(3);
  for (const auto& row : sealed) EXPECT_EQ(compute_row_hash(kKey, row), row.row_hash);
}

TEST(AuditCanonicalJson, IsStableThroughAParseRoundTrip) {
  const auto row = to_json(sample_row(7));
  const auto text = canonical_json(row);
  EXPECT_EQ(canonical_json(json::parse(text)), text);
}

TEST(AuditHash, GenesisLinkIsSha256OfZeros) {
  EXPECT_EQ(kGenesisHash, "sha256:0000000000000000000000000000000000000000000000000000000000000000");
  auto rows = make_chain(1);
  EXPECT_EQ(rows[0].chain_seq, 1);
  EXPECT_EQ(rows[0].prev_hash, kGenesisHash);
  EXPECT_EQ(rows[0].row_hash.rfind("sha256:", 0), 0u);
  EXPECT_EQ(rows[0].row_hash.size(), 7u + 64u);
}

TEST(AuditHash, DependsOnTheKeyAndOnEveryField) {
  auto row = make_chain(1)[0];
  EXPECT_EQ(compute_row_hash(kKey, row), row.row_hash);
  EXPECT_NE(compute_row_hash(kKey + "x", row), row.row_hash);  // another key: another chain
  auto edited = row;
  edited.diff_summary = diff_summary_json({DiffOp{"tasks", "t0", "update", {"title"}}});
  EXPECT_NE(compute_row_hash(kKey, edited), row.row_hash);
  edited = row;
  edited.on_behalf_of_id = "usr_1";
  EXPECT_NE(compute_row_hash(kKey, edited), row.row_hash);
  // The stored rowHash itself is not hashed.
  edited = row;
  edited.row_hash = "sha256:x";
  EXPECT_EQ(compute_row_hash(kKey, edited), row.row_hash);
}

TEST(AuditHash, MatchesAnIndependentHmacOfPrevHashAndCanonicalRow) {
  // HMAC-SHA256 of a known message, as `openssl dgst -sha256 -hmac key` computes it, pins the
  // construction (key, then prevHash || canonical JSON).
  AuditRow row;
  row.tenant = "t";
  row.occurred_at_ms = 0;
  row.actor_kind = "system";
  row.actor_id = "key_1";
  row.credential_id = "key_1";
  row.action_type = "key.create";
  row.prev_hash = kGenesisHash;
  const std::string message = kGenesisHash + canonical_json(to_json(row, false));
  EXPECT_NE(message.find(R"("actionType":"key.create")"), std::string::npos);
  EXPECT_EQ(message.find("rowHash"), std::string::npos);
  // Recomputed here with OpenSSL's one-shot HMAC over the documented message.
  const std::string key = "k";
  unsigned char digest[32];
  unsigned int size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(message.data()),
       message.size(), digest, &size);
  std::string hex;
  for (unsigned i = 0; i < size; ++i) hex += fmt::format("{:02x}", digest[i]);
  EXPECT_EQ(compute_row_hash(key, row), "sha256:" + hex);
}

TEST(AuditHash, TheStoredJsonOfASealedRowParsesBackToTheSameHash) {
  AuditRow row = sample_row(3);
  std::string stored;
  const auto link = seal(kKey, row, ChainLink{}, &stored);
  const auto parsed = json::parse(stored).as_object();
  EXPECT_EQ(parsed.at("rowHash"), json::value(row.row_hash));
  EXPECT_EQ(link.hash, row.row_hash);
  auto back = from_json(parsed, row.tenant);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->row_hash, row.row_hash);
  EXPECT_EQ(compute_row_hash(kKey, *back), row.row_hash);
  // Alternating keys on one thread (the MAC context is cached per key) changes nothing.
  EXPECT_NE(compute_row_hash("another-key-another-key-another-key", *back), row.row_hash);
  EXPECT_EQ(compute_row_hash(kKey, *back), row.row_hash);
}

TEST(AuditVerify, AnIntactChainVerifies) {
  const auto rows = make_chain(20);
  EXPECT_FALSE(verify(as_stored(rows)).has_value());
  ChainVerifier verifier(kKey, ChainLink{});
  for (const auto& row : rows) ASSERT_FALSE(verifier.check(row.chain_seq, row, std::nullopt));
  EXPECT_EQ(verifier.rows_checked(), 20);
  EXPECT_EQ(verifier.link().seq, 20);
}

TEST(AuditVerify, ADeltaDigestThatNoLongerMatchesBreaksAtThatRow) {
  const auto rows = make_chain(3);
  ChainVerifier verifier(kKey, ChainLink{});
  EXPECT_FALSE(verifier.check(1, rows[0], rows[0].delta_digest));
  auto broken = verifier.check(2, rows[1], std::string("sha256:other"));
  ASSERT_TRUE(broken);
  EXPECT_EQ(broken->broken_at_seq, 2);
  EXPECT_EQ(broken->reason, "delta_digest_mismatch");
}

TEST(AuditVerify, FromJsonRoundTripsEveryField) {
  auto row = make_chain(1)[0];
  row.on_behalf_of_kind = "user";
  row.on_behalf_of_id = "usr_9";
  row.credential_label = "bot";
  row.delegation_chain_root = "usr_9";
  row.caused_by_task_id = "task_1";
  row.model_name = "claude-opus-4-7";
  row.row_hash = compute_row_hash(kKey, row);
  auto back = from_json(to_json(row), row.tenant);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(json::serialize(to_json(*back)), json::serialize(to_json(row)));
  EXPECT_EQ(compute_row_hash(kKey, *back), row.row_hash);
  auto missing = to_json(row);
  missing.erase("actorId");
  EXPECT_FALSE(from_json(missing, row.tenant));
}

// Any single edit of a field of one row is detected at that row's seq.
RC_GTEST_PROP(AuditChainProperty, AnEditedRowBreaksAtItsSeq, ()) {
  const int n = *rc::gen::inRange(1, 30);
  auto rows = make_chain(n);
  const int victim = *rc::gen::inRange(0, n);
  const int field = *rc::gen::inRange(0, 6);
  auto& row = rows[static_cast<std::size_t>(victim)];
  switch (field) {
    case 0: row.actor_id += "x"; break;
    case 1: row.diff_summary = diff_summary_json({DiffOp{"tasks", "other", "delete", {}}}); break;
    case 2: row.occurred_at_ms += 1; break;
    case 3: row.credential_id = "cap_forged"; break;
    case 4: row.last_sync_id += 1; break;
    case 5: row.action_type = "schema.push"; break;
  }
  auto broken = verify(as_stored(rows));
  RC_ASSERT(broken.has_value());
  RC_ASSERT(broken->broken_at_seq == victim + 1);
  RC_ASSERT(broken->reason == "hash_mismatch");
}

// Deleting any one row (but the newest: nothing follows it) breaks at the deleted seq.
RC_GTEST_PROP(AuditChainProperty, ADeletedRowBreaksAtItsSeq, ()) {
  const int n = *rc::gen::inRange(2, 30);
  auto rows = make_chain(n);
  const int victim = *rc::gen::inRange(0, n - 1);
  rows.erase(rows.begin() + victim);
  auto broken = verify(as_stored(rows));
  RC_ASSERT(broken.has_value());
  RC_ASSERT(broken->broken_at_seq == victim + 1);
}

// Swapping two rows' places (their stored seqs) breaks at the lower of the two.
RC_GTEST_PROP(AuditChainProperty, SwappedRowsBreakAtTheFirstOfThem, ()) {
  const int n = *rc::gen::inRange(2, 30);
  auto rows = make_chain(n);
  const int a = *rc::gen::inRange(0, n - 1);
  const int b = *rc::gen::inRange(a + 1, n);  // a distinct second row, without discarding cases
  auto stored = as_stored(rows);
  std::swap(stored[static_cast<std::size_t>(a)].second, stored[static_cast<std::size_t>(b)].second);
  auto broken = verify(stored);
  RC_ASSERT(broken.has_value());
  RC_ASSERT(broken->broken_at_seq == std::min(a, b) + 1);
}

// A forger without the key recomputes the hashes with another key: the first forged row breaks.
RC_GTEST_PROP(AuditChainProperty, RehashingWithoutTheKeyIsDetected, ()) {
  const int n = *rc::gen::inRange(1, 20);
  auto rows = make_chain(n);
  const int from = *rc::gen::inRange(0, n);
  ChainLink link{from, from == 0 ? kGenesisHash : rows[static_cast<std::size_t>(from - 1)].row_hash};
  for (int i = from; i < n; ++i) {
    rows[static_cast<std::size_t>(i)].actor_id = "forged";
    link = seal("not-the-key-not-the-key-not-the-key", rows[static_cast<std::size_t>(i)], link);
  }
  auto broken = verify(as_stored(rows));
  RC_ASSERT(broken.has_value());
  RC_ASSERT(broken->broken_at_seq == from + 1);
}

TEST(AuditDeltaDigest, ChangesWithAnyPartOfAnyDelta) {
  const json::object data{{"title", "a"}, {"n", 1}};
  const auto digest_of = [&](int64_t id, char action, std::string model, std::string row, json::object d) {
    DeltaDigest digest;
    digest.add(1, 'I', "Task", "x", &data);
    digest.add(id, action, model, row, &d);
    return digest.finish();
  };
  const auto base = digest_of(2, 'U', "Task", "t1", data);
  EXPECT_EQ(base, digest_of(2, 'U', "Task", "t1", json::object{{"n", 1}, {"title", "a"}}));  // key order is not content
  EXPECT_NE(base, digest_of(3, 'U', "Task", "t1", data));
  EXPECT_NE(base, digest_of(2, 'D', "Task", "t1", data));
  EXPECT_NE(base, digest_of(2, 'U', "Note", "t1", data));
  EXPECT_NE(base, digest_of(2, 'U', "Task", "t2", data));
  EXPECT_NE(base, digest_of(2, 'U', "Task", "t1", json::object{{"title", "b"}, {"n", 1}}));
  DeltaDigest one;
  one.add(1, 'I', "Task", "x", &data);
  EXPECT_NE(base, one.finish());  // a missing delta
}

TEST(AuditCsv, QuotesSeparatorsAndDefusesFormulas) {
  EXPECT_EQ(csv_field("plain"), "plain");
  EXPECT_EQ(csv_field("a,b"), "\"a,b\"");
  EXPECT_EQ(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(csv_field("line\nbreak"), "\"line\nbreak\"");
  EXPECT_EQ(csv_field("=cmd()"), "'=cmd()");
  const auto row = make_chain(1)[0];
  const auto line = csv_line(row);
  EXPECT_EQ(line.substr(0, 2), "1,");
  EXPECT_EQ(line.substr(line.size() - 2), "\r\n");
  EXPECT_NE(line.find(row.row_hash), std::string::npos);
  // diffSummary holds field names, quoted as one CSV field.
  EXPECT_NE(line.find(R"("[{""fields"":[""title"",""status""])"), std::string::npos);
}

TEST(AuditKeyFile, IsCreatedOnceWithMode0600AndReadBack) {
  const auto dir = std::filesystem::temp_directory_path() / ("ablo-audit-key-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = dir / "audit.key";
  std::filesystem::remove(path);
  auto created = load_or_create_key_file(path);
  ASSERT_TRUE(created) << created.error().message;
  EXPECT_EQ(created->size(), 64u);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto again = load_or_create_key_file(path);
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *created);
  std::ofstream(dir / "short.key") << "tooshort\n";
  EXPECT_FALSE(read_key_file(dir / "short.key"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ablo::audit
