#include "coord/claim_table.h"

#include <map>

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

namespace ablo::coord {
namespace {

constexpr int64_t kTtl = 10'000;

Owner owner(int n) { return {"p" + std::to_string(n), "cred" + std::to_string(n)}; }

Claim claim_by(int who, std::string intent, std::string id = "row", std::string field = {}, uint64_t session = 0) {
  Claim c;
  c.tenant = "org/live";
  c.intent_id = std::move(intent);
  c.owner = owner(who);
  c.participant_kind = "agent";
  c.entity_type = "tasks";
  c.model = "tasks";
  c.entity_id = std::move(id);
  c.field = std::move(field);
  c.ttl_ms = kTtl;
  c.session = session;
  return c;
}

BeginOutcome::Kind begin(ClaimTable& table, Claim c, bool queue = true, int64_t now = 0) {
  Changes changes;
  return table.begin(std::move(c), queue, now, changes).kind;
}

std::vector<std::string> granted_ids(const Changes& changes) {
  std::vector<std::string> ids;
  for (const auto& t : changes.transitions) {
    if (t.kind == Transition::Kind::kGranted) ids.push_back(t.claim.intent_id);
  }
  return ids;
}

std::vector<std::string> active_ids(const ClaimTable& table, const std::string& id = "row") {
  std::vector<std::string> ids;
  for (const auto& c : table.entity_claims("org/live", "tasks", id)) {
    if (c.status == ClaimStatus::kActive) ids.push_back(c.intent_id);
  }
  return ids;
}

TEST(ClaimTable, FreeTargetIsAcquiredAndLeaseStartsNow) {
  ClaimTable table;
  Changes changes;
  auto outcome = table.begin(claim_by(1, "a"), true, 1000, changes);
  ASSERT_EQ(outcome.kind, BeginOutcome::Kind::kAcquired);
  EXPECT_EQ(outcome.claim->expires_at_ms, 1000 + kTtl);
  EXPECT_TRUE(changes.transitions.empty()) << "a direct acquire is answered by the caller, not announced";
  EXPECT_EQ(changes.participants.size(), 1u);
}

TEST(ClaimTable, HeldTargetQueuesWithZeroBasedPositions) {
  ClaimTable table;
  begin(table, claim_by(1, "a"));
  Changes changes;
  auto b = table.begin(claim_by(2, "b"), true, 0, changes);
  auto c = table.begin(claim_by(3, "c"), true, 0, changes);
  EXPECT_EQ(b.kind, BeginOutcome::Kind::kQueued);
  EXPECT_EQ(b.position, 0);
  EXPECT_EQ(c.position, 1);
}

TEST(ClaimTable, NonQueuedBeginOnHeldTargetIsRejectedNamingTheHolder) {
  ClaimTable table;
  begin(table, claim_by(1, "a"));
  Changes changes;
  auto outcome = table.begin(claim_by(2, "b"), false, 0, changes);
  ASSERT_EQ(outcome.kind, BeginOutcome::Kind::kRejected);
  EXPECT_EQ(outcome.blocker->intent_id, "a");
  EXPECT_EQ(table.find("org/live", "b"), nullptr) << "a rejected claim leaves nothing behind";
}

TEST(ClaimTable, SameOwnerNeverConflictsWithItself) {
  ClaimTable table;
  begin(table, claim_by(1, "a"));
  begin(table, claim_by(2, "b"));  // waits behind a
  EXPECT_EQ(begin(table, claim_by(1, "a2")), BeginOutcome::Kind::kAcquired);
  EXPECT_EQ(active_ids(table), (std::vector<std::string>{"a", "a2"}));
}

TEST(ClaimTable, RepeatedIntentIdIsIdempotentAndReattachesTheSocket) {
  ClaimTable table;
  begin(table, claim_by(1, "a", "row", {}, 7));
  begin(table, claim_by(2, "b"));
  Changes changes;
  auto again = table.begin(claim_by(1, "a", "row", {}, 9), true, 0, changes);
  EXPECT_EQ(again.kind, BeginOutcome::Kind::kAcquired);
  EXPECT_TRUE(again.repeated);
  EXPECT_EQ(table.find("org/live", "a")->session, 9u);
  auto waiter_again = table.begin(claim_by(2, "b"), true, 0, changes);
  EXPECT_EQ(waiter_again.kind, BeginOutcome::Kind::kQueued);
  EXPECT_EQ(waiter_again.position, 0);
  EXPECT_EQ(table.size(), 2u);
}

TEST(ClaimTable, AnotherOwnerReusingAnIntentIdIsRefused) {
  ClaimTable table;
  begin(table, claim_by(1, "a"));
  Changes changes;
  EXPECT_EQ(table.begin(claim_by(2, "a", "other-row"), true, 0, changes).kind, BeginOutcome::Kind::kForeignId);
}

TEST(ClaimTable, ReleaseGrantsTheNextWaiterInArrivalOrder) {
  ClaimTable table;
  for (int i = 0; i < 50; ++i) begin(table, claim_by(i, "c" + std::to_string(i)));
  for (int i = 0; i < 49; ++i) {
    Changes changes;
    ASSERT_EQ(table.abandon("org/live", "c" + std::to_string(i), owner(i), 0, changes), std::optional<bool>(true));
    EXPECT_EQ(granted_ids(changes), (std::vector<std::string>{"c" + std::to_string(i + 1)}));
  }
}

TEST(ClaimTable, ReleaseReportsCommittedOnlyAfterAWriteUnderTheLease) {
  ClaimTable table;
  begin(table, claim_by(1, "a"));
  begin(table, claim_by(1, "b", "row2"));
  EXPECT_FALSE(table.authorize_write("org/live", "tasks", "row", owner(1), {}));
  Changes changes;
  table.abandon("org/live", "a", owner(1), 0, changes);
  table.abandon("org/live", "b", owner(1), 0, changes);
  ASSERT_EQ(changes.transitions.size(), 2u);
  EXPECT_EQ(changes.transitions[0].terminal, "committed");
  EXPECT_EQ(changes.transitions[1].terminal, "canceled");
}

TEST(ClaimTable, AbandonIgnoresUnknownIdsAndRefusesOtherOwners) {
  ClaimTable table;
  begin(table, claim_by(1, "a"));
  Changes changes;
  EXPECT_EQ(table.abandon("org/live", "nope", owner(1), 0, changes), std::nullopt);
  EXPECT_EQ(table.abandon("org/live", "a", owner(2), 0, changes), std::optional<bool>(false));
  EXPECT_EQ(active_ids(table), std::vector<std::string>{"a"});
}

// An operator ends someone else's claim: involuntary, "preempted", naming the operator; the next
// waiter is granted; an unknown id changes nothing.
TEST(ClaimTable, PreemptEndsAnyOwnersClaimAndGrantsTheNextWaiter) {
  ClaimTable table;
  begin(table, claim_by(1, "a"));
  begin(table, claim_by(2, "b"));
  Changes changes;
  EXPECT_EQ(table.preempt("org/live", "nope", "operator", 0, changes), std::nullopt);
  EXPECT_TRUE(changes.transitions.empty());
  ASSERT_EQ(table.preempt("org/live", "a", "operator", 0, changes), std::optional<bool>(true));
  ASSERT_EQ(changes.transitions.size(), 2u);
  const auto& ended = changes.transitions[0];
  EXPECT_EQ(ended.kind, Transition::Kind::kEnded);
  EXPECT_EQ(ended.claim.intent_id, "a");
  EXPECT_TRUE(ended.was_active);
  EXPECT_TRUE(ended.involuntary);
  EXPECT_EQ(ended.terminal, "preempted");
  EXPECT_EQ(ended.ended_by, "operator");
  EXPECT_EQ(granted_ids(changes), std::vector<std::string>{"b"});
  EXPECT_EQ(active_ids(table), std::vector<std::string>{"b"});
}

TEST(ClaimTable, AbandonedWaiterLeavesTheLineAndIsNeverGranted) {
  ClaimTable table;
  begin(table, claim_by(1, "a"));
  begin(table, claim_by(2, "b"));
  begin(table, claim_by(3, "c"));
  Changes changes;
  table.abandon("org/live", "b", owner(2), 0, changes);
  EXPECT_TRUE(granted_ids(changes).empty());
  table.abandon("org/live", "a", owner(1), 0, changes);
  EXPECT_EQ(granted_ids(changes), std::vector<std::string>{"c"});
}

TEST(ClaimTable, ClosedSocketDropsItsWaitersAndStopsRenewingItsHolders) {
  ClaimTable table;
  begin(table, claim_by(1, "a", "row", {}, 1), true, 0);
  begin(table, claim_by(2, "b", "row", {}, 2), true, 0);
  begin(table, claim_by(3, "c", "row", {}, 3), true, 0);
  Changes changes;
  table.session_closed(2, 0, changes);
  table.session_closed(1, 0, changes);
  EXPECT_EQ(table.find("org/live", "b"), nullptr);
  EXPECT_EQ(table.find("org/live", "a")->session, 0u);
  Changes before;
  table.sweep(kTtl - 1, before);
  EXPECT_EQ(active_ids(table), std::vector<std::string>{"a"}) << "lapses at expiresAt, not before";
  Changes at_expiry;
  table.sweep(kTtl, at_expiry);
  EXPECT_EQ(granted_ids(at_expiry), std::vector<std::string>{"c"});
  ASSERT_FALSE(at_expiry.transitions.empty());
  EXPECT_EQ(at_expiry.transitions.front().terminal, "expired");
  EXPECT_TRUE(at_expiry.transitions.front().involuntary);
}

TEST(ClaimTable, LiveSocketRenewsTheLeaseAtHalfTheTtl) {
  ClaimTable table;
  begin(table, claim_by(1, "a", "row", {}, 1), true, 0);
  Changes early;
  EXPECT_EQ(table.sweep(kTtl / 2 - 1, early), kTtl / 2);
  EXPECT_TRUE(early.renewed.empty());
  Changes half;
  table.sweep(kTtl / 2, half);
  ASSERT_EQ(half.renewed.size(), 1u);
  EXPECT_EQ(table.find("org/live", "a")->expires_at_ms, kTtl / 2 + kTtl);
  Changes much_later;
  table.sweep(100 * kTtl, much_later);
  EXPECT_EQ(active_ids(table), std::vector<std::string>{"a"}) << "never expires while its socket lives";
}

TEST(ClaimTable, SocketlessWaiterIsSkippedAtPromotion) {
  ClaimTable table([](const Claim& c) { return c.owner.participant_id != "p2"; });
  begin(table, claim_by(1, "a"));
  begin(table, claim_by(2, "b"));  // no socket, owner unreachable
  begin(table, claim_by(3, "c"));
  Changes changes;
  table.abandon("org/live", "a", owner(1), 0, changes);
  EXPECT_EQ(granted_ids(changes), std::vector<std::string>{"c"});
  EXPECT_EQ(table.find("org/live", "b"), nullptr);
}

TEST(ClaimTable, FieldClaimsOnDifferentFieldsCoexistButAnEntityClaimWaits) {
  ClaimTable table;
  EXPECT_EQ(begin(table, claim_by(1, "title", "row", "title")), BeginOutcome::Kind::kAcquired);
  EXPECT_EQ(begin(table, claim_by(2, "status", "row", "status")), BeginOutcome::Kind::kAcquired);
  EXPECT_EQ(begin(table, claim_by(3, "whole")), BeginOutcome::Kind::kQueued);
  EXPECT_EQ(begin(table, claim_by(4, "status2", "row", "status")), BeginOutcome::Kind::kQueued);
  // A later claim on a free field still waits: it would otherwise overtake the entity claim.
  EXPECT_EQ(begin(table, claim_by(5, "priority", "row", "priority")), BeginOutcome::Kind::kQueued);
}

TEST(ClaimTable, FieldNamesMatchAcrossCamelAndSnakeSpelling) {
  ClaimTable table;
  begin(table, claim_by(1, "a", "row", "dueDate"));
  EXPECT_EQ(begin(table, claim_by(2, "b", "row", "due_date"), false), BeginOutcome::Kind::kRejected);
}

TEST(ClaimTable, WriteGuardBlocksOtherOwnersOnlyWhereTheClaimReaches) {
  ClaimTable table;
  begin(table, claim_by(1, "a", "row", "title"));
  EXPECT_TRUE(table.authorize_write("org/live", "tasks", "row", owner(2), {"title"}));
  EXPECT_FALSE(table.authorize_write("org/live", "tasks", "row", owner(2), {"status"}));
  EXPECT_TRUE(table.authorize_write("org/live", "tasks", "row", owner(2), {})) << "delete/archive touch every field";
  EXPECT_FALSE(table.authorize_write("org/live", "tasks", "row", owner(1), {})) << "the holder passes";
  EXPECT_FALSE(table.authorize_write("org/live", "tasks", "other", owner(2), {}));
  EXPECT_FALSE(table.authorize_write("org/test", "tasks", "row", owner(2), {})) << "sandboxes are partitions";
}

TEST(ClaimTable, QueuedWaitersDoNotBlockWriters) {
  ClaimTable table;
  begin(table, claim_by(1, "a"));
  begin(table, claim_by(2, "b"));
  Changes changes;
  table.abandon("org/live", "a", owner(1), 0, changes);
  table.abandon("org/live", "b", owner(2), 0, changes);
  begin(table, claim_by(2, "b2", "row", {}, 0));
  EXPECT_FALSE(table.authorize_write("org/live", "tasks", "row", owner(2), {}));
}

TEST(ClaimTable, ReorderMovesListedWaitersToTheFront) {
  ClaimTable table;
  begin(table, claim_by(1, "a"));
  begin(table, claim_by(2, "b"));
  begin(table, claim_by(3, "c"));
  begin(table, claim_by(4, "d"));
  Changes changes;
  table.reorder("org/live", "tasks", "row", {"d", "c"}, 0, changes);
  std::vector<std::string> line;
  for (const auto& c : table.entity_claims("org/live", "tasks", "row")) line.push_back(c.intent_id);
  EXPECT_EQ(line, (std::vector<std::string>{"a", "d", "c", "b"}));
  table.abandon("org/live", "a", owner(1), 0, changes);
  EXPECT_EQ(granted_ids(changes), std::vector<std::string>{"d"});
}

TEST(ClaimTable, ReleaseEntityRemovesTheOwnersHoldAndQueuedEntries) {
  ClaimTable table;
  begin(table, claim_by(1, "a"));
  begin(table, claim_by(2, "b"));
  begin(table, claim_by(1, "a-again-later", "row", "title"));  // same owner: granted at once
  Changes changes;
  EXPECT_TRUE(table.release_entity("org/live", "tasks", "row", owner(1), 0, changes));
  EXPECT_EQ(granted_ids(changes), std::vector<std::string>{"b"});
  EXPECT_FALSE(table.release_entity("org/live", "tasks", "row", owner(1), 0, changes));
}

// ---------------------------------------------------------------- property

// A random interleaving of begin / abandon / socket close / time passing / write attempts by
// four owners on two rows (entity- and field-level). After every step: no two conflicting
// active claims; a write is refused exactly when another owner's active claim covers it;
// entity-level waiters are granted in arrival order.
RC_GTEST_PROP(ClaimTableProperty, NeverTwoConflictingHoldersAndGrantsFollowArrival, ()) {
  ClaimTable table([](const Claim& c) { return c.session != 0 || c.owner.participant_id != "p3"; });
  const std::vector<std::string> rows = {"r1", "r2"};
  const std::vector<std::string> fields = {"", "", "title", "status"};
  int64_t now = 0;
  int next_intent = 0;
  std::map<std::string, std::vector<std::string>> arrival;  // row -> entity-level intent ids, arrival order
  std::map<std::string, std::vector<std::string>> grants;   // row -> entity-level intent ids, grant order
  auto note = [&](const Changes& changes) {
    for (const auto& t : changes.transitions) {
      if (t.kind == Transition::Kind::kGranted && t.claim.field.empty()) {
        grants[t.claim.entity_id].push_back(t.claim.intent_id);
      }
    }
  };
  const int steps = *rc::gen::inRange(1, 120);
  for (int step = 0; step < steps; ++step) {
    const int who = *rc::gen::inRange(0, 4);
    const auto& row = rows[*rc::gen::inRange<std::size_t>(0, rows.size())];
    Changes changes;
    switch (*rc::gen::inRange(0, 6)) {
      case 0:
      case 1: {
        const std::string intent = "i" + std::to_string(next_intent++);
        const auto field = fields[*rc::gen::inRange<std::size_t>(0, fields.size())];
        const bool queue = *rc::gen::arbitrary<bool>();
        const uint64_t session = who == 3 ? 0 : static_cast<uint64_t>(who + 1);
        // An owner adding to its own hold may be granted at once, ahead of the line, by design;
        // such grants are left out of the order check.
        bool own_hold = false;
        for (const auto& c : table.entity_claims("org/live", "tasks", row)) {
          own_hold |= c.status == ClaimStatus::kActive && c.owner == owner(who);
        }
        auto outcome = table.begin(claim_by(who, intent, row, field, session), queue, now, changes);
        if (!field.empty() || (own_hold && outcome.kind == BeginOutcome::Kind::kAcquired)) break;
        if (outcome.kind != BeginOutcome::Kind::kRejected) arrival[row].push_back(intent);
        if (outcome.kind == BeginOutcome::Kind::kAcquired) grants[row].push_back(intent);
        break;
      }
      case 2: {
        auto claims = table.entity_claims("org/live", "tasks", row);
        if (claims.empty()) break;
        const auto& victim = claims[*rc::gen::inRange<std::size_t>(0, claims.size())];
        table.abandon("org/live", victim.intent_id, victim.owner, now, changes);
        break;
      }
      case 3:
        table.session_closed(static_cast<uint64_t>(who + 1), now, changes);
        break;
      case 4:
        now += *rc::gen::inRange<int64_t>(0, 2 * kTtl);
        table.sweep(now, changes);
        break;
      case 5: {
        const auto field = fields[*rc::gen::inRange<std::size_t>(0, fields.size())];
        std::set<std::string> touched;
        if (!field.empty()) touched.insert(field);
        auto blocker = table.authorize_write("org/live", "tasks", row, owner(who), touched);
        bool expected_block = false;
        for (const auto& c : table.entity_claims("org/live", "tasks", row)) {
          expected_block |= c.status == ClaimStatus::kActive && !(c.owner == owner(who)) &&
                            (c.field.empty() || field.empty() || c.field == field);
        }
        RC_ASSERT(blocker.has_value() == expected_block);
        break;
      }
    }
    note(changes);
    for (const auto& r : rows) {
      const auto claims = table.entity_claims("org/live", "tasks", r);
      for (std::size_t i = 0; i < claims.size(); ++i) {
        for (std::size_t j = i + 1; j < claims.size(); ++j) {
          const auto& a = claims[i];
          const auto& b = claims[j];
          const bool overlap = a.field.empty() || b.field.empty() || a.field == b.field;
          RC_ASSERT(!(a.status == ClaimStatus::kActive && b.status == ClaimStatus::kActive &&
                      !(a.owner == b.owner) && overlap));
        }
      }
    }
  }
  for (const auto& r : rows) {
    // Grants of entity-level claims are a subsequence of their arrival order: nobody overtook.
    const auto& order = arrival[r];
    std::size_t cursor = 0;
    for (const auto& granted : grants[r]) {
      while (cursor < order.size() && order[cursor] != granted) ++cursor;
      RC_ASSERT(cursor < order.size());
    }
  }
}

}  // namespace
}  // namespace ablo::coord
