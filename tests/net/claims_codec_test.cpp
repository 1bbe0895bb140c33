// The claims dialect at the edge (net/claims_codec.h, net/dialect_outbox.h): every frame the
// coordination plane writes in the 0.9.1 vocabulary reaches a 0.49 socket as a frame of the
// 0.49 registry with its required keys, never as intent_*; claim_* payloads parse into the
// coordinator's requests; the strict receipt has exactly its keys.
#include "net/claims_codec.h"

#include "net/authority.h"
#include "net/receipt_codec.h"

#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "coord/coordinator.h"
#include "coord/wire.h"
#include "net/dialect_outbox.h"

namespace ablo::net {
namespace {

namespace json = boost::json;

// ------------------------------------------------------------ a checker of the 0.49 registry

bool is_string(const json::object& o, std::string_view key) { return o.contains(key) && o.at(key).is_string(); }
bool is_number(const json::object& o, std::string_view key) { return o.contains(key) && o.at(key).is_number(); }

void expect_part_names(const json::object& target, const std::string& where) {
  if (target.contains("field")) {
    ASSERT_TRUE(target.at("field").is_string()) << where;
    EXPECT_EQ(target.at("field").as_string().find(','), json::string::npos) << where;
  }
  if (target.contains("fields")) {
    ASSERT_TRUE(target.at("fields").is_array()) << where;
    for (const auto& f : target.at("fields").as_array()) { EXPECT_TRUE(f.is_string()) << where; }
  }
  if (target.contains("meta")) { EXPECT_TRUE(target.at("meta").is_object()) << where; }
  EXPECT_FALSE(target.contains("path")) << where;
}

void expect_target_ref(const json::object& target, const std::string& where) {
  EXPECT_TRUE(is_string(target, "entityType")) << where;
  EXPECT_TRUE(is_string(target, "entityId")) << where;
  expect_part_names(target, where);
}

// What the 0.49 client's schema requires of each frame it accepts (notes/dialect-049.md §1.4).
void expect_valid_049_frame(const json::object& frame) {
  ASSERT_TRUE(is_string(frame, "type"));
  const std::string type(frame.at("type").as_string());
  const std::string where = json::serialize(frame);
  EXPECT_FALSE(type.starts_with("intent_")) << where;
  ASSERT_TRUE(claims_registry_has(type)) << "not in the 0.49 registry: " << where;
  ASSERT_TRUE(frame.contains("payload") && frame.at("payload").is_object()) << where;
  const auto& p = frame.at("payload").as_object();
  EXPECT_FALSE(p.contains("intentId")) << where;
  if (type == "claim_acquired" || type == "claim_granted") {
    EXPECT_TRUE(is_string(p, "claimId")) << where;
    ASSERT_TRUE(p.contains("target") && p.at("target").is_object()) << where;
    expect_target_ref(p.at("target").as_object(), where);
    if (p.contains("fenceToken")) { EXPECT_TRUE(p.at("fenceToken").is_number()) << where; }
    if (p.contains("readAt")) { EXPECT_TRUE(p.at("readAt").is_int64() && p.at("readAt").as_int64() >= 0) << where; }
  } else if (type == "claim_queued") {
    EXPECT_TRUE(is_string(p, "claimId")) << where;
    EXPECT_TRUE(is_number(p, "position")) << where;
    if (p.contains("target")) expect_target_ref(p.at("target").as_object(), where);
  } else if (type == "claim_lost") {
    EXPECT_TRUE(is_string(p, "claimId")) << where;
    ASSERT_TRUE(is_string(p, "reason")) << where;
    EXPECT_TRUE(p.at("reason") == "expired" || p.at("reason") == "preempted") << where;
    ASSERT_TRUE(p.contains("target") && p.at("target").is_object()) << "target is required: " << where;
    expect_target_ref(p.at("target").as_object(), where);
  } else if (type == "claim_rejected") {
    EXPECT_TRUE(is_string(p, "claimId")) << where;
    static const std::set<std::string> kReasons = {"conflict", "coordination_unavailable", "capability_denied",
                                                   "invalid_target", "expired", "preempted"};
    if (p.contains("reason")) { EXPECT_TRUE(kReasons.count(std::string(p.at("reason").as_string()))) << where; }
    if (p.contains("target")) expect_target_ref(p.at("target").as_object(), where);
  } else if (type == "claim_queue") {
    ASSERT_TRUE(p.contains("target")) << where;
    EXPECT_TRUE(is_string(p.at("target").as_object(), "type")) << where;
    EXPECT_TRUE(is_string(p.at("target").as_object(), "id")) << where;
    ASSERT_TRUE(p.contains("queue") && p.at("queue").is_array()) << where;
    for (const auto& e : p.at("queue").as_array()) {
      const auto& entry = e.as_object();
      EXPECT_EQ(entry.at("object"), "claim") << where;
      EXPECT_TRUE(is_string(entry, "id")) << where;
      EXPECT_EQ(entry.at("status"), "queued") << where;
      EXPECT_TRUE(is_string(entry.at("target").as_object(), "type")) << where;
      EXPECT_TRUE(is_string(entry.at("target").as_object(), "id")) << where;
      expect_part_names(entry.at("target").as_object(), where);
      if (entry.contains("description")) { EXPECT_TRUE(is_string(entry, "description")) << where; }
      if (entry.contains("participantKind")) {
        const auto& kind = entry.at("participantKind");
        EXPECT_TRUE(kind == "user" || kind == "agent" || kind == "system") << where;
      }
      EXPECT_TRUE(is_number(entry, "position")) << where;
      EXPECT_TRUE(is_number(entry, "expiresAt")) << "a number, not an ISO string: " << where;
    }
  } else if (type == "claim_expired") {
    EXPECT_TRUE(is_string(p, "claimId")) << where;
  } else if (type == "claim_heartbeat_ack") {
    EXPECT_TRUE(is_string(p, "claimId")) << where;
    ASSERT_TRUE(is_string(p, "status")) << where;
    EXPECT_TRUE(p.at("status") == "held" || p.at("status") == "queued" || p.at("status") == "lost") << where;
  } else if (type == "presence_update") {
    ASSERT_TRUE(is_string(p, "kind")) << where;
    EXPECT_TRUE(p.at("kind") == "enter" || p.at("kind") == "update" || p.at("kind") == "leave") << where;
    EXPECT_TRUE(is_string(p, "userId")) << where;
    EXPECT_TRUE(is_string(p, "status")) << where;
    EXPECT_FALSE(p.contains("activeIntents")) << where;
    ASSERT_TRUE(p.contains("activeClaims") && p.at("activeClaims").is_array()) << where;
    for (const auto& c : p.at("activeClaims").as_array()) {
      const auto& claim = c.as_object();
      expect_target_ref(claim, where);
      EXPECT_TRUE(is_string(claim, "claimId")) << where;
      EXPECT_TRUE(is_number(claim, "declaredAt")) << where;
      EXPECT_TRUE(is_number(claim, "expiresAt")) << where;
      if (claim.contains("status")) {
        const auto& s = claim.at("status");
        EXPECT_TRUE(s == "active" || s == "committed" || s == "expired" || s == "canceled") << where;
      }
    }
  }
}

// ------------------------------------------------------------ outbound, frame by frame

json::object render(std::string_view type, json::object payload) {
  auto rendered = claims_frame_of(coord::ws_frame(type, std::move(payload)));
  EXPECT_TRUE(rendered) << type << " has no 0.49 form";
  return rendered ? json::parse(*rendered).as_object() : json::object{};
}

const json::object kIntentTarget{{"entityType", "weatherreports"},
                                 {"entityId", "r1"},
                                 {"field", "forecast"},
                                 {"path", json::array{"a"}},
                                 {"meta", json::object{{"description", "fixing"}}}};

TEST(ClaimsCodec, GrantsCarryClaimIdTargetAndTheSupersetKeys) {
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"intent_acquired", "claim_acquired"}, {"intent_granted", "claim_granted"}}) {
    json::object target = kIntentTarget;
    target["fields"] = json::array{"forecast", "status"};
    const auto frame = render(from, {{"intentId", "c1"}, {"target", target}, {"fenceToken", 7}, {"readAt", 42}});
    expect_valid_049_frame(frame);
    EXPECT_EQ(frame.at("type"), to.c_str());
    const auto& p = frame.at("payload").as_object();
    EXPECT_EQ(p.at("claimId"), "c1");
    EXPECT_EQ(p.at("fenceToken"), 7);
    EXPECT_EQ(p.at("readAt"), 42);
    EXPECT_EQ(p.at("target").at("entityId"), "r1");
    EXPECT_EQ(p.at("target").at("fields").as_array().size(), 2u);
  }
}

TEST(ClaimsCodec, QueuedLostRejectedExpiredAndTheLineSnapshotRender) {
  auto queued = render("intent_queued", {{"intentId", "c2"}, {"target", kIntentTarget}, {"position", 1},
                                         {"heldBy", "alice"}, {"heldByIntentId", "c1"}, {"heldByExpiresAt", 99}});
  expect_valid_049_frame(queued);
  EXPECT_EQ(queued.at("type"), "claim_queued");
  EXPECT_EQ(queued.at("payload").at("heldByClaimId"), "c1");

  for (const char* reason : {"expired", "preempted"}) {
    auto lost = render("intent_lost", {{"intentId", "c3"}, {"reason", reason}, {"target", kIntentTarget},
                                       {"error", json::object{{"code", "queue_too_deep"}}}});
    expect_valid_049_frame(lost);
    EXPECT_EQ(lost.at("type"), "claim_lost");
    EXPECT_EQ(lost.at("payload").at("reason"), reason);
  }

  auto conflict = render("intent_rejected", {{"intentId", "c4"}, {"reason", "conflict"}, {"target", kIntentTarget},
                                             {"heldBy", "bob"}, {"heldByIntentId", "c9"}, {"heldByExpiresAt", 5}});
  expect_valid_049_frame(conflict);
  EXPECT_EQ(conflict.at("type"), "claim_rejected");
  EXPECT_EQ(conflict.at("payload").at("reason"), "conflict");
  EXPECT_EQ(conflict.at("payload").at("heldByClaimId"), "c9");
  auto too_deep = render("intent_rejected", {{"intentId", "c5"}, {"reason", "queue_too_deep"}, {"target", kIntentTarget},
                                             {"error", json::object{{"code", "intent_lease_unavailable"}, {"message", "m"}}}});
  expect_valid_049_frame(too_deep);
  EXPECT_EQ(too_deep.at("payload").at("reason"), "coordination_unavailable") << "a reason outside the 0.49 set";
  EXPECT_EQ(too_deep.at("payload").at("error").at("code"), "claim_lease_unavailable") << "codes of contract 2026-08-04";

  auto expired = render("claim_expired", {{"intentId", "c6"}});
  expect_valid_049_frame(expired);
  EXPECT_EQ(expired.at("payload").at("claimId"), "c6");

  json::object waiter{{"object", "intent"}, {"id", "c7"}, {"status", "queued"},
                      {"target", json::object{{"type", "weatherreports"}, {"id", "r1"}, {"field", "forecast"}}},
                      {"action", "editing"}, {"heldBy", "bot"}, {"participantKind", "human"},
                      {"createdAt", "2026-01-01T00:00:00.000Z"}, {"expiresAt", "2026-01-01T00:01:00.000Z"},
                      {"position", 0}};
  auto line = render("intent_queue", {{"target", json::object{{"type", "weatherreports"}, {"id", "r1"}}},
                                      {"queue", json::array{waiter}}});
  expect_valid_049_frame(line);
  EXPECT_EQ(line.at("type"), "claim_queue");
  const auto& entry = line.at("payload").at("queue").as_array().at(0).as_object();
  EXPECT_EQ(entry.at("expiresAt").as_int64(), 1767225660000);
  EXPECT_EQ(entry.at("participantKind"), "user");
  EXPECT_EQ(entry.at("description"), "editing");
}

TEST(ClaimsCodec, PresenceCarriesActiveClaimsNotActiveIntents) {
  json::object intent{{"intentId", "c1"}, {"entityType", "weatherreports"}, {"entityId", "r1"}, {"action", "editing"},
                      {"declaredAt", 10}, {"expiresAt", 20}, {"status", "active"},
                      {"meta", json::object{{"description", "rewriting"}}}, {"fenceToken", 3}};
  auto frame = render("presence_update", {{"status", "online"}, {"kind", "update"}, {"userId", "alice"},
                                          {"isAgent", false}, {"timestamp", 1}, {"activeIntents", json::array{intent}}});
  expect_valid_049_frame(frame);
  const auto& claim = frame.at("payload").at("activeClaims").as_array().at(0).as_object();
  EXPECT_EQ(claim.at("claimId"), "c1");
  EXPECT_EQ(claim.at("description"), "rewriting");
  EXPECT_EQ(claim.at("fenceToken"), 3);
  // A presence frame missing its status gets one (the 0.49 schema requires it).
  auto bare = render("presence_update", {{"kind", "enter"}, {"userId", "bob"}, {"activeIntents", json::array{}}});
  expect_valid_049_frame(bare);
}

TEST(ClaimsCodec, TypesOutsideThe049RegistryAreNeverSentAndRelayedEventsPassUntouched) {
  EXPECT_FALSE(claims_frame_of(coord::ws_frame("error", {{"code", "x"}})));
  EXPECT_FALSE(claims_frame_of(coord::ws_frame("session_error", {})));
  EXPECT_FALSE(claims_frame_of(coord::ws_frame("hello", {})));
  EXPECT_FALSE(claims_frame_of(coord::ws_frame("intent_something_new", {})));
  EXPECT_FALSE(claims_frame_of("not json"));
  const std::string event = coord::ws_frame("sheet_selection", {{"cell", "A1"}, {"userId", "alice"}});
  EXPECT_EQ(claims_frame_of(event), event) << "forwarded byte for byte";
  const std::string ack = coord::ws_frame("claim_ack", {{"claimId", "p1"}, {"success", true}});
  EXPECT_EQ(claims_frame_of(ack), ack);
}

// ------------------------------------------------------------ the real coordinator's frames

class RawOutbox : public fanout::Outbox {
 public:
  void push_frame(std::string frame) override {
    std::lock_guard lock(mutex_);
    frames.push_back(std::move(frame));
  }
  void push_delta(std::shared_ptr<const fanout::EncodedDelta>) override {}
  void push_after_deltas(std::string frame, int64_t) override { push_frame(std::move(frame)); }
  void close(int code, std::string reason) override {
    std::lock_guard lock(mutex_);
    closes.emplace_back(code, std::move(reason));
  }
  std::vector<json::object> parsed() {
    std::lock_guard lock(mutex_);
    std::vector<json::object> out;
    for (const auto& f : frames) out.push_back(json::parse(f).as_object());
    return out;
  }
  std::vector<std::string> frames;
  std::vector<std::pair<int, std::string>> closes;

 private:
  std::mutex mutex_;
};

coord::Participant participant(const std::string& id) {
  return coord::Participant{"org/live", coord::Owner{id, "cred_" + id}, "user", {"org:o"}, false};
}

TEST(ClaimsCodec, EveryFrameTheCoordinatorSendsAClaimsSocketIsAValid049Frame) {
  int64_t now = 1'000'000;
  coord::Coordinator coordinator({.clock = [&now] { return now; },
                                  .model_key = [](std::string_view) { return std::string("weatherReports"); }});
  auto a_socket = std::make_shared<RawOutbox>();
  auto b_socket = std::make_shared<RawOutbox>();
  DialectOutbox a_out(*a_socket, a_socket), b_out(*b_socket, b_socket);
  a_out.decide(Dialect::kClaims);
  b_out.decide(Dialect::kClaims);
  const auto a = coordinator.attach(participant("alice"), &a_out);
  const auto b = coordinator.attach(participant("bob"), &b_out);
  coordinator.presence_update(a, json::object{{"status", "online"}});
  coordinator.presence_update(b, json::object{{"status", "online"}});

  auto begin = [](const std::string& id, const std::string& row, bool queue) {
    auto request = parse_claim_begin(json::object{{"claimId", id}, {"entityType", "weatherreports"}, {"entityId", row},
                                                  {"description", "fixing"}, {"fields", json::array{"forecast"}},
                                                  {"queue", queue}});
    EXPECT_TRUE(request);
    return *request;
  };
  coordinator.intent_begin(a, begin("ca", "r1", false));  // acquired
  coordinator.intent_begin(b, begin("cb", "r1", true));   // queued
  coordinator.intent_begin(b, begin("cc", "r1", false));  // rejected: conflict
  coordinator.sweep_now();                                // the line snapshot
  coordinator.intent_abandon(a, "ca");                    // granted to b
  // An HTTP claim of alice's lapses: her socket hears it lost (expired).
  coordinator.claim(participant("alice"), begin("cd", "r2", false));
  now += coord::kMaxTtlMs + 1;
  coordinator.sweep_now();

  std::set<std::string> types;
  for (auto* socket : {a_socket.get(), b_socket.get()}) {
    for (const auto& frame : socket->parsed()) {
      expect_valid_049_frame(frame);
      types.insert(std::string(frame.at("type").as_string()));
    }
  }
  for (const char* expected : {"claim_acquired", "claim_queued", "claim_rejected", "claim_queue", "claim_granted",
                               "claim_lost", "presence_update"}) {
    EXPECT_TRUE(types.count(expected)) << expected << " was not produced";
  }
  // The description reaches the peers' presence (0.9.1 carries it in meta.description).
  bool described = false;
  for (const auto& frame : a_socket->parsed()) {
    if (frame.at("type") != "presence_update") continue;
    for (const auto& c : frame.at("payload").at("activeClaims").as_array()) described |= c.at("description") == "fixing";
  }
  EXPECT_TRUE(described);
}

TEST(ClaimsCodec, AnUndecidedSocketHoldsFramesAndRendersThemOnceDecided) {
  auto socket = std::make_shared<RawOutbox>();
  DialectOutbox out(*socket, socket);
  out.push_frame(coord::ws_frame("presence_update", {{"kind", "enter"}, {"userId", "bob"}, {"status", "online"},
                                                     {"activeIntents", json::array{}}}));
  out.push_reply([](Dialect d) { return std::string(d == Dialect::kClaims ? "claims-reply" : "intents-reply"); });
  EXPECT_TRUE(socket->frames.empty()) << "nothing goes out before the dialect is known";
  out.decide(Dialect::kClaims);
  ASSERT_EQ(socket->frames.size(), 2u);
  EXPECT_TRUE(json::parse(socket->frames[0]).at("payload").as_object().contains("activeClaims"));
  EXPECT_EQ(socket->frames[1], "claims-reply");
  out.decide(Dialect::kIntents);  // the first decision stands
  EXPECT_EQ(out.dialect(), Dialect::kClaims);
}

TEST(ClaimsCodec, TheUndecidedHoldIsBoundedAndARefusalSendsNothingHeld) {
  auto socket = std::make_shared<RawOutbox>();
  DialectOutbox out(*socket, socket);
  for (std::size_t i = 0; i <= DialectOutbox::kMaxHeldFrames; ++i) out.push_frame(coord::ws_frame("x_event", {}));
  ASSERT_EQ(socket->closes.size(), 1u);
  EXPECT_EQ(socket->closes[0].first, fanout::kSlowConsumerCloseCode);
  out.decide(Dialect::kIntents);
  EXPECT_TRUE(socket->frames.empty()) << "what was held was freed, not sent";

  auto refused_socket = std::make_shared<RawOutbox>();
  DialectOutbox refused(*refused_socket, refused_socket);
  refused.push_frame(coord::ws_frame("presence_update", {{"kind", "enter"}, {"userId", "bob"}}));
  refused.refuse(4010, "protocol_version_unsupported");
  refused.decide(Dialect::kClaims);
  refused.push_frame(coord::ws_frame("presence_update", {{"kind", "enter"}, {"userId", "bob"}}));
  EXPECT_TRUE(refused_socket->frames.empty());
  ASSERT_EQ(refused_socket->closes.size(), 1u);
  EXPECT_EQ(refused_socket->closes[0], std::make_pair(4010, std::string("protocol_version_unsupported")));
}

// ------------------------------------------------------------ inbound

TEST(ClaimsCodec, ClaimBeginParsesIntoTheIntentRequest) {
  auto request = parse_claim_begin(json::object{{"claimId", "c1"}, {"entityType", "weatherreports"}, {"entityId", "r1"},
                                                {"description", "rewriting"}, {"field", "forecast"},
                                                {"meta", json::object{{"k", 1}}}, {"estimatedMs", 5000}, {"queue", true}});
  ASSERT_TRUE(request) << request.error().message;
  EXPECT_EQ(request->intent_id, "c1");
  EXPECT_EQ(request->entity_type, "weatherreports");
  EXPECT_EQ(request->entity_id, "r1");
  EXPECT_EQ(request->field, "forecast");
  EXPECT_EQ(request->description, "rewriting");
  EXPECT_EQ(request->meta.at("k"), 1);
  EXPECT_EQ(request->meta.at("description"), "rewriting") << "where 0.9.1 peers read it";
  EXPECT_EQ(request->ttl_ms, 5000);
  EXPECT_TRUE(request->queue);

  auto one = parse_claim_begin(json::object{{"claimId", "c"}, {"entityType", "t"}, {"entityId", "i"},
                                            {"fields", json::array{"a"}}});
  ASSERT_TRUE(one);
  EXPECT_EQ(one->fields, std::vector<std::string>{"a"});
  auto several = parse_claim_begin(json::object{{"claimId", "c"}, {"entityType", "t"}, {"entityId", "i"},
                                                {"fields", json::array{"a", "b"}}});
  ASSERT_TRUE(several);
  EXPECT_EQ(several->fields, (std::vector<std::string>{"a", "b"})) << "disjoint field sets are claimed apart";
}

TEST(ClaimsCodec, MalformedClaimBeginsAreRefusedWithRegistryCodes) {
  auto code_of = [](json::object payload) {
    auto parsed = parse_claim_begin(payload);
    return parsed ? std::string("ok") : parsed.error().code;
  };
  EXPECT_EQ(code_of({{"entityType", "t"}, {"entityId", "i"}}), "claim_id_required");
  EXPECT_EQ(code_of({{"claimId", ""}, {"entityType", "t"}, {"entityId", "i"}}), "claim_id_required");
  EXPECT_EQ(code_of({{"claimId", "c"}, {"entityId", "i"}}), "malformed_claim");
  EXPECT_EQ(code_of({{"claimId", "c"}, {"entityType", "t"}}), "malformed_claim");
  EXPECT_EQ(code_of({{"claimId", "c"}, {"entityType", "t"}, {"entityId", "i"}, {"field", "a,b"}}), "malformed_claim");
  EXPECT_EQ(code_of({{"claimId", "c"}, {"entityType", "t"}, {"entityId", "i"}, {"field", 3}}), "malformed_claim");
  EXPECT_EQ(code_of({{"claimId", "c"}, {"entityType", "t"}, {"entityId", "i"}, {"fields", "a"}}), "malformed_claim");
  EXPECT_EQ(code_of({{"claimId", "c"}, {"entityType", "t"}, {"entityId", "i"}, {"fields", json::array{1}}}),
            "malformed_claim");
  EXPECT_EQ(code_of({{"claimId", "c"}, {"entityType", "t"}, {"entityId", "i"}}), "ok");
}

// A refusal's reason tells the 0.49 reader which guarantee failed: a denied write rule, a bad
// target, or a store/claim log that could not answer (nothing is known about the row).
TEST(ClaimsCodec, ARefusedClaimBeginNamesTheReasonItsErrorMeans) {
  coord::ClaimRequest asked;
  asked.entity_type = "weatherreports";
  asked.entity_id = "r1";
  auto reason_for = [&](const Error& error) {
    const auto frame = json::parse(claim_rejected_frame("c1", asked, error)).as_object();
    EXPECT_EQ(frame.at("type"), "claim_rejected");
    return std::string(frame.at("payload").at("reason").as_string());
  };
  EXPECT_EQ(reason_for(Error("capability_scope_denied", "refused")), "capability_denied");
  EXPECT_EQ(reason_for(Error("malformed_claim", "refused")), "invalid_target");
  EXPECT_EQ(reason_for(Error("source_network_error", "refused")), "coordination_unavailable");
  EXPECT_EQ(reason_for(Error("intent_lease_unavailable", "refused")), "coordination_unavailable");
}

TEST(ClaimsCodec, AbandonReorderAndHeartbeatParse) {
  EXPECT_EQ(parse_claim_abandon(json::object{{"claimId", "c1"}, {"entityType", "t"}}), "c1");
  EXPECT_EQ(parse_claim_abandon(json::object{{"intentId", "c1"}}), "") << "the 0.9.1 spelling is not read";
  auto reorder = parse_claim_reorder(json::object{
      {"entityType", "t"}, {"entityId", "i"},
      {"order", json::array{json::object{{"heldBy", "bob"}, {"claimId", "c2"}}, json::object{{"heldBy", "al"}, {"claimId", "c1"}}, 5}}});
  EXPECT_EQ(reorder.entity_type, "t");
  EXPECT_EQ(reorder.intent_ids, (std::vector<std::string>{"c2", "c1"}));

  auto beat = parse_claim_heartbeat(json::object{{"claimId", "c1"}, {"entityType", "t"}, {"entityId", "i"}, {"ttlMs", 30000}});
  ASSERT_TRUE(beat);
  EXPECT_EQ(beat->claim_id, "c1");
  EXPECT_EQ(beat->ttl_ms, 30000);
  EXPECT_TRUE(parse_claim_heartbeat(json::object{{"entityType", "t"}, {"entityId", "i"}})) << "a target names the claim";
  auto unnamed = parse_claim_heartbeat(json::object{{"entityType", "t"}});
  ASSERT_FALSE(unnamed);
  EXPECT_EQ(unnamed.error().code, "claim_id_required");
}

TEST(ClaimsCodec, UpdateSubscriptionValidatesItsGroups) {
  auto groups = parse_update_subscription(json::object{{"syncGroups", json::array{"default", "org:o", "team_2:a:b", "org:o"}}});
  ASSERT_TRUE(groups);
  EXPECT_EQ(*groups, (std::vector<std::string>{"default", "org:o", "team_2:a:b"}));
  EXPECT_TRUE(parse_update_subscription(json::object{{"syncGroups", json::array{}}}));
  for (const auto& bad : {json::object{}, json::object{{"syncGroups", "org:o"}}, json::object{{"syncGroups", json::array{1}}}}) {
    auto parsed = parse_update_subscription(bad);
    ASSERT_FALSE(parsed);
    EXPECT_EQ(parsed.error().code, "malformed_subscription");
  }
  json::array too_many;
  for (std::size_t i = 0; i <= kMaxSubscriptionGroups; ++i) too_many.emplace_back("org:o" + std::to_string(i));
  EXPECT_EQ(parse_update_subscription(json::object{{"syncGroups", too_many}}).error().code, "malformed_subscription");
  for (const char* name : {"nonsense", "Org:o", "org:", ":o", "1org:o", "~echo:x"}) {
    auto parsed = parse_update_subscription(json::object{{"syncGroups", json::array{name}}});
    ASSERT_FALSE(parsed) << name;
    EXPECT_EQ(parsed.error().code, "invalid_sync_group") << name;
  }
  const auto ack = json::parse(subscription_ack_frame({"org:o"}, nullptr)).as_object();
  EXPECT_EQ(ack.at("type"), "subscription_ack");
  EXPECT_EQ(ack.at("payload").at("success"), true);
  Error error("invalid_sync_group", "bad");
  const auto refused = json::parse(subscription_ack_frame({"org:o"}, &error)).as_object();
  EXPECT_EQ(refused.at("payload").at("success"), false);
  EXPECT_EQ(refused.at("payload").at("error").at("code"), "invalid_sync_group");
}

// ------------------------------------------------------------ receipts

TEST(ClaimsCodec, TheStrictReceiptHasExactlyItsKeys) {
  engine::CommitReceipt receipt;
  receipt.client_tx_id = "ctx-1";
  receipt.last_sync_id = 12;
  receipt.ops = 1;
  receipt.flagged_stale = true;  // no `flagged` key may leak into the strict form
  receipt.created_at_ms = 1000;
  receipt.status_at_ms = 900;  // never reported before createdAt
  const json::object authority{{"organizationId", "o"}};
  const auto strict = receipt_json(receipt, Dialect::kClaims, authority);
  std::set<std::string> keys;
  for (const auto& [key, value] : strict) keys.insert(std::string(key));
  EXPECT_EQ(keys, (std::set<std::string>{"object", "clientTxId", "serverTxId", "createdAt", "success", "ops", "authority",
                                         "status", "statusAt", "lastSyncId"}));
  EXPECT_EQ(strict.at("status"), "confirmed");
  EXPECT_GE(strict.at("statusAt").as_string(), strict.at("createdAt").as_string()) << "statusAt >= createdAt";

  const auto rejected = rejected_receipt_json("ctx-2", Error("intent_id_required", "m", "p"), Dialect::kClaims, authority, 1000);
  keys.clear();
  for (const auto& [key, value] : rejected) keys.insert(std::string(key));
  EXPECT_EQ(keys, (std::set<std::string>{"object", "clientTxId", "serverTxId", "createdAt", "success", "authority",
                                         "status", "statusAt", "error"}));
  EXPECT_EQ(rejected.at("error").at("code"), "claim_id_required");
  EXPECT_EQ(rejected.at("error").as_object().size(), 3u) << "code, message, field";
}

TEST(ClaimsCodec, AuthoritySpellsOperationsAsModelVerbsAndNamesAProjectAndBranch) {
  auto schema = schema::Schema::parse_text(R"({"v":3,"models":{"weatherReports":{"fields":{
      "location":{"type":"string","isOptional":false,"isIndexed":false}},"relations":{},"load":"instant",
      "typename":"weatherReports","tenancy":{"kind":"column","column":"organization_id"},"plane":"tenant"}},
      "identityRoles":[]})");
  ASSERT_TRUE(schema) << schema.error().message;
  auth::Principal principal;
  principal.tenant.org = "org_1";
  principal.participant_id = "bot";
  principal.participant_kind = "agent";
  principal.allowed_groups = {"org:org_1"};
  auto authority = authority_json(authority_of(principal, **schema));
  EXPECT_EQ(authority.at("operations").as_array().size(), 4u) << json::serialize(authority);
  EXPECT_EQ(authority.at("projectId"), "proj_org_1");
  EXPECT_EQ(authority.at("branchId"), "branch_main");
  EXPECT_TRUE(authority.at("deliveryPartition").is_null());
  principal.operations = {"weatherreports.read", "*"};
  authority = authority_json(authority_of(principal, **schema));
  EXPECT_EQ(authority.at("operations"), json::array{"weatherReports.read"});
}

}  // namespace
}  // namespace ablo::net
