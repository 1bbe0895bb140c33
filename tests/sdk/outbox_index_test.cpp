// The outbox's indexes (outbox.h "Cost") against a naive reference: the same rules applied by
// scanning every entry, as the outbox did before it kept indexes. 10,000 random steps (appends
// that coalesce or not, both lanes, frames, acks, cursor moves, transient and final failures with
// and without a named operation, the odd take_all) with a backlog in the thousands; after every
// step the answers must agree, and every 250 steps the whole state (each entry's frame and ack).
// The cursor stands still for the first 4,000 steps, so acked entries pile up as they do while
// a client writes faster than its deltas come back.
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sdk/outbox.h"
#include "sdk/sdk_test_schema.h"

namespace ablo::sdk_detail::outbox_index_test {
namespace {

using std::chrono::milliseconds;

struct NaiveEntry {
  Lane lane = Lane::kModel;
  std::string row;
  Action action = Action::kUpdate;
  std::optional<std::string> frame_id;
  std::optional<int64_t> acked;
  bool idempotent = false;
  std::optional<OnStale> on_stale;
};

// outbox.h's rules, by full scans (what the indexed outbox must still answer).
struct NaiveOutbox {
  std::map<int64_t, NaiveEntry> entries;
  std::optional<std::string> in_flight_model, in_flight_commit;

  std::optional<std::string>& in_flight(Lane lane) { return lane == Lane::kModel ? in_flight_model : in_flight_commit; }

  int64_t append(int64_t seq, NaiveEntry entry) {  // the seq that carries the write
    if (entry.lane == Lane::kModel && entry.action == Action::kUpdate && !entry.idempotent) {
      for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
        const NaiveEntry& last = it->second;
        if (last.lane != Lane::kModel || last.row != entry.row) continue;
        if (last.action == Action::kUpdate && !last.frame_id && !last.acked && !last.idempotent &&
            last.on_stale == entry.on_stale) {
          return it->first;
        }
        break;
      }
    }
    entries.emplace(seq, std::move(entry));
    return seq;
  }

  std::vector<int64_t> frame(const std::string& id) const {
    std::vector<int64_t> out;
    for (const auto& [seq, entry] : entries) {
      if (entry.frame_id == id) out.push_back(seq);
    }
    return out;
  }

  // The next frame's (existing id or nullopt for a new one, seqs); nothing when none is due.
  std::optional<std::pair<std::optional<std::string>, std::vector<int64_t>>> next_frame(Lane lane) {
    if (in_flight(lane)) return std::nullopt;
    for (const auto& [seq, entry] : entries) {
      if (entry.lane != lane || entry.acked) continue;
      if (entry.frame_id) return std::pair{entry.frame_id, frame(*entry.frame_id)};
      std::vector<int64_t> batch;
      for (const auto& [other_seq, other] : entries) {
        if (batch.size() < 50 && other.lane == lane && !other.acked && !other.frame_id) batch.push_back(other_seq);
      }
      return std::pair{std::optional<std::string>{}, batch};
    }
    return std::nullopt;
  }

  void clear_in_flight(const std::string& id) {
    if (in_flight_model == id) in_flight_model.reset();
    if (in_flight_commit == id) in_flight_commit.reset();
  }

  std::pair<std::vector<int64_t>, std::vector<int64_t>> on_success(const std::string& id, int64_t last_sync_id) {
    clear_in_flight(id);
    std::vector<int64_t> acked, completed;
    for (int64_t seq : frame(id)) {
      NaiveEntry& entry = entries.at(seq);
      if (entry.lane == Lane::kCommit) {
        completed.push_back(seq);
        entries.erase(seq);
      } else if (!entry.acked) {
        entry.acked = last_sync_id;
        acked.push_back(seq);
      }
    }
    return {acked, completed};
  }

  std::vector<int64_t> confirmed(int64_t cursor) {
    std::vector<int64_t> done;
    for (const auto& [seq, entry] : entries) {
      if (entry.lane == Lane::kModel && entry.acked && *entry.acked <= cursor) done.push_back(seq);
    }
    for (int64_t seq : done) entries.erase(seq);
    return done;
  }

  struct Failure {
    bool unknown = false, retry = false;
    std::vector<int64_t> rolled_back, cascaded, requeued;
  };
  // Transient failures are answered with 0 ms of connected time: always a retry.
  Failure on_failure(const std::string& id, bool transient, std::optional<std::size_t> named) {
    clear_in_flight(id);
    Failure out;
    std::vector<int64_t> seqs;
    for (int64_t seq : frame(id)) {
      if (!entries.at(seq).acked) seqs.push_back(seq);
    }
    if (seqs.empty()) {
      out.unknown = true;
      return out;
    }
    if (transient) {
      out.retry = true;
      return out;
    }
    const Lane lane = entries.at(seqs.front()).lane;
    // The model rows used here have no belongsTo: wire order is seq order.
    if (lane == Lane::kModel && seqs.size() > 1 && named && *named < seqs.size()) {
      const int64_t failing = seqs[*named];
      for (int64_t seq : seqs) {
        if (seq == failing) continue;
        entries.at(seq).frame_id.reset();
        out.requeued.push_back(seq);
      }
      seqs = {failing};
    }
    std::set<std::string> created;
    for (int64_t seq : seqs) {
      if (entries.at(seq).action == Action::kCreate) created.insert(entries.at(seq).row);
      entries.erase(seq);
      out.rolled_back.push_back(seq);
    }
    if (lane == Lane::kModel) {
      for (const auto& [seq, entry] : entries) {
        if (entry.lane == Lane::kModel && created.contains(entry.row)) out.cascaded.push_back(seq);
      }
      for (int64_t seq : out.cascaded) entries.erase(seq);
    }
    return out;
  }
};

std::vector<int64_t> seqs_of(const std::vector<OutboxEntry>& entries) {
  std::vector<int64_t> out;
  for (const auto& entry : entries) out.push_back(entry.seq);
  return out;
}

class OutboxIndexTest : public ::testing::Test {
 protected:
  void expect_same_state(const Outbox& outbox, const NaiveOutbox& naive, int step) {
    ASSERT_EQ(outbox.size(), naive.entries.size()) << "step " << step;
    auto entries = outbox.entries();
    auto expected = naive.entries.begin();
    for (const OutboxEntry* entry : entries) {
      ASSERT_EQ(entry->seq, expected->first) << "step " << step;
      EXPECT_EQ(entry->frame_id, expected->second.frame_id) << "step " << step << " seq " << entry->seq;
      EXPECT_EQ(entry->acked_sync_id, expected->second.acked) << "step " << step << " seq " << entry->seq;
      ++expected;
    }
  }
};

TEST_F(OutboxIndexTest, TenThousandRandomStepsAgreeWithANaiveScan) {
  int ids = 0;
  Outbox outbox(sdk_test::sdk_test_schema(), {}, [&ids] { return "uuid" + std::to_string(++ids); }, [] { return 0.0; });
  NaiveOutbox naive;
  std::mt19937_64 random(20261130);
  auto chance = [&](double p) { return std::uniform_real_distribution<double>(0, 1)(random) < p; };
  auto pick = [&](int n) { return static_cast<int>(random() % static_cast<uint64_t>(n)); };

  int64_t seq = 0, last_sync_id = 0, cursor = 0;
  int next_row = 0, commit_frames = 0;
  std::size_t largest = 0;
  int merges = 0, cascades = 0, requeues = 0, confirmations = 0, new_frames = 0, resends = 0;
  constexpr int kSteps = 10000;
  for (int step = 0; step < kSteps; ++step) {
    const double append_share = step < kSteps / 2 ? 0.75 : 0.3;  // grow a backlog, then drain it
    if (chance(append_share)) {
      if (chance(0.05)) {  // a commit-lane frame of 1–3 operations (its clientTxId given)
        const std::string frame_id = "commit_" + std::to_string(++commit_frames);
        for (int i = 0, n = 1 + pick(3); i < n; ++i) {
          OutboxEntry entry;
          entry.seq = ++seq;
          entry.lane = Lane::kCommit;
          entry.frame_id = frame_id;
          entry.action = Action::kUpdate;
          entry.model = "users";
          entry.row_id = "u" + std::to_string(pick(std::max(1, next_row)));
          entry.transaction_id = "tx_" + std::to_string(seq);
          ASSERT_TRUE(outbox.append(entry));
          naive.append(seq, NaiveEntry{Lane::kCommit, entry.row_id, Action::kUpdate, frame_id, {}, false, {}});
        }
      } else {
        OutboxEntry entry;
        entry.seq = ++seq;
        entry.model = "users";
        const bool create = next_row < 300 || chance(0.2);
        entry.action = create ? Action::kCreate : (chance(0.05) ? Action::kDelete : Action::kUpdate);
        entry.row_id = "u" + std::to_string(create ? next_row++ : pick(next_row));
        entry.data = {{"displayName", "v" + std::to_string(seq)}};
        entry.has_idempotency_key = chance(0.05);
        entry.transaction_id = entry.has_idempotency_key ? "key_" + std::to_string(seq) : "tx_" + std::to_string(seq);
        if (!create) entry.on_stale = chance(0.5) ? OnStale::kReject : OnStale::kForce;
        auto appended = outbox.append(entry);
        ASSERT_TRUE(appended) << appended.error().message;
        const int64_t carrier = naive.append(
            seq, NaiveEntry{Lane::kModel, entry.row_id, entry.action, {}, {}, entry.has_idempotency_key, entry.on_stale});
        EXPECT_EQ(appended->merged, carrier != seq) << "step " << step;
        EXPECT_EQ(appended->seq, carrier) << "step " << step;
        if (appended->merged) ++merges;
      }
    } else if (chance(0.35)) {  // the pump: the next frame of a lane
      const Lane lane = chance(0.8) ? Lane::kModel : Lane::kCommit;
      auto expected = naive.next_frame(lane);
      auto frame = outbox.next_frame(lane);
      ASSERT_EQ(frame.has_value(), expected.has_value()) << "step " << step;
      if (!frame) continue;
      EXPECT_EQ(frame->seqs, expected->second) << "step " << step;
      EXPECT_EQ(frame->first_send, !expected->first.has_value()) << "step " << step;
      if (expected->first) {
        EXPECT_EQ(frame->client_tx_id, *expected->first);
        ++resends;
      } else {
        for (int64_t s : frame->seqs) naive.entries.at(s).frame_id = frame->client_tx_id;
        ++new_frames;
      }
      outbox.mark_sent(*frame);
      naive.in_flight(lane) = frame->client_tx_id;
    } else if (chance(0.6)) {  // an answer for a frame in flight
      const Lane lane = chance(0.8) ? Lane::kModel : Lane::kCommit;
      const auto in_flight = naive.in_flight(lane);
      if (!in_flight) continue;
      const std::string id = *in_flight;
      const int answer = pick(10);
      if (answer < 6) {
        last_sync_id += 1 + pick(3);
        auto outcome = outbox.on_success(id, last_sync_id);
        auto [acked, completed] = naive.on_success(id, last_sync_id);
        EXPECT_EQ(outcome.acked, acked) << "step " << step;
        EXPECT_EQ(seqs_of(outcome.completed), completed) << "step " << step;
      } else {
        const bool transient = answer == 6;
        std::optional<std::size_t> named;
        if (answer >= 8) named = static_cast<std::size_t>(pick(60));  // sometimes past the frame's end
        const Error error = transient ? Error("internal_error", "try later")
                            : named   ? Error("stale_context", "moved", "operations[" + std::to_string(*named) + "].readAt")
                                      : Error("stale_context", "moved");
        auto decision = outbox.on_failure(id, error, milliseconds(0));
        auto expected = naive.on_failure(id, transient, named);
        ASSERT_EQ(decision.kind, expected.unknown  ? FailureDecision::Kind::kUnknownFrame
                                 : expected.retry ? FailureDecision::Kind::kRetry
                                                  : FailureDecision::Kind::kFinal)
            << "step " << step;
        EXPECT_EQ(seqs_of(decision.rolled_back), expected.rolled_back) << "step " << step;
        EXPECT_EQ(seqs_of(decision.cascaded), expected.cascaded) << "step " << step;
        EXPECT_EQ(decision.requeued, expected.requeued) << "step " << step;
        cascades += static_cast<int>(expected.cascaded.size());
        requeues += static_cast<int>(expected.requeued.size());
      }
    } else if (chance(0.995)) {  // the cursor moves (not in the first 40%: acked entries pile up)
      if (step < kSteps * 2 / 5) continue;
      cursor = std::max(cursor, last_sync_id - pick(4));
      auto done = outbox.confirmed(cursor);
      auto expected = naive.confirmed(cursor);
      EXPECT_EQ(seqs_of(done), expected) << "step " << step;
      confirmations += static_cast<int>(expected.size());
    } else {  // another participant's store: everything handed over
      EXPECT_EQ(seqs_of(outbox.take_all()), [&] {
        std::vector<int64_t> all;
        for (const auto& entry : naive.entries) all.push_back(entry.first);
        return all;
      }()) << "step " << step;
      naive = NaiveOutbox{};
    }
    ASSERT_EQ(outbox.size(), naive.entries.size()) << "step " << step;
    EXPECT_EQ(outbox.in_flight(Lane::kModel), naive.in_flight_model.has_value()) << "step " << step;
    largest = std::max(largest, outbox.size());
    if (step % 250 == 0 || step == kSteps - 1) expect_same_state(outbox, naive, step);
    if (HasFatalFailure()) return;
  }
  // Not vacuous: every path was taken, with a backlog in the thousands.
  EXPECT_GT(largest, 1000u);
  EXPECT_GT(merges, 0);
  EXPECT_GT(cascades, 0);
  EXPECT_GT(requeues, 0);
  EXPECT_GT(confirmations, 1000);
  EXPECT_GT(new_frames, 100);
  EXPECT_GT(resends, 0);
}

}  // namespace
}  // namespace ablo::sdk_detail::outbox_index_test
