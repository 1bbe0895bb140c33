// Pure pieces of outbound webhooks: delta -> event mapping, the enabledEvents filter, Standard
// Webhooks signing (the reference vector of datasource.md §1.3), batches and their ids, the
// retry schedule, and the URL refusals of registration.
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "webhooks/events.h"
#include "webhooks/registry.h"
#include "webhooks/signing.h"

namespace ablo::webhooks {
namespace {

namespace json = boost::json;

store::Delta delta(char action, int64_t id = 7, std::string model = "Task") {
  store::Delta d;
  d.id = id;
  d.action = action;
  d.model_name = std::move(model);
  d.model_id = "t1";
  d.data = json::object{{"id", "t1"}, {"title", "Write"}};
  d.created_at_ms = 1'700'000'000'123;
  return d;
}

TEST(WebhookEvents, EveryVisibleActionBecomesATypedEvent) {
  const std::pair<char, const char*> cases[] = {
      {'I', "task.created"}, {'U', "task.updated"}, {'D', "task.deleted"}, {'A', "task.archived"}, {'V', "task.unarchived"}};
  for (const auto& [action, type] : cases) {
    auto event = event_of(delta(action));
    ASSERT_TRUE(event) << action;
    EXPECT_EQ(event->at("type").as_string(), type);
    EXPECT_EQ(event->at("id").as_string(), "7");
    EXPECT_EQ(event->at("syncId").as_int64(), 7);
    EXPECT_EQ(event->at("model").as_string(), "Task");  // original case
    EXPECT_EQ(event->at("objectId").as_string(), "t1");
    EXPECT_EQ(event->at("createdAt").as_string(), "2023-11-14T22:13:20.123Z");
    if (action == 'D') {
      EXPECT_TRUE(event->at("data").is_null());
    } else {
      EXPECT_EQ(event->at("data").at("title").as_string(), "Write");
    }
  }
}

TEST(WebhookEvents, PermissionMechanicsAreNoEvents) {
  for (char action : {'C', 'G', 'S'}) EXPECT_FALSE(event_of(delta(action))) << action;
}

TEST(WebhookEvents, FilterTakesStarModelNamesAndTypes) {
  EXPECT_TRUE(event_enabled({"*"}, "Task", "task.updated"));
  EXPECT_TRUE(event_enabled({"task"}, "Task", "task.updated"));
  EXPECT_TRUE(event_enabled({"Task"}, "Task", "task.deleted"));
  EXPECT_TRUE(event_enabled({"project", "task.updated"}, "Task", "task.updated"));
  EXPECT_FALSE(event_enabled({"task.created"}, "Task", "task.updated"));
  EXPECT_FALSE(event_enabled({"project"}, "Task", "task.updated"));
  EXPECT_TRUE(validate_enabled_events({"*", "task", "task.updated"}));
  EXPECT_FALSE(validate_enabled_events({}));
  EXPECT_FALSE(validate_enabled_events({"task.renamed"}));
  EXPECT_FALSE(validate_enabled_events({"ta sk"}));
}

TEST(WebhookSigning, MatchesTheStandardWebhooksReferenceVector) {
  auto signature = sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
                        R"({"test": 2432232314})");
  ASSERT_TRUE(signature);
  EXPECT_EQ(*signature, "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

TEST(WebhookSigning, HeaderCarriesOneSignaturePerSecret) {
  const auto a = new_secret(), b = new_secret();
  EXPECT_NE(a, b);
  EXPECT_TRUE(a.starts_with("whsec_"));
  auto header = signature_header({a, b}, "msg_1", 1700000000, "{}");
  ASSERT_TRUE(header);
  EXPECT_EQ(*header, "v1," + *sign(a, "msg_1", 1700000000, "{}") + " v1," + *sign(b, "msg_1", 1700000000, "{}"));
  EXPECT_FALSE(sign("sk_not_a_secret", "msg_1", 1, "{}"));
}

TEST(WebhookBatches, BoundedByCountAndBytesWithAStableId) {
  BatchBuilder builder("we_1", 3, 1 << 20);
  for (int64_t id = 10; id < 13; ++id) EXPECT_TRUE(builder.add(*event_of(delta('U', id)), id));
  EXPECT_FALSE(builder.add(*event_of(delta('U', 13)), 13)) << "at most 3 events";
  auto batch = builder.finish();
  EXPECT_EQ(batch.id, "msg_we_1_10_12");
  EXPECT_EQ(batch.id, batch_id("we_1", 10, 12));
  auto body = json::parse(batch.body).as_object();
  EXPECT_EQ(body.at("object").as_string(), "webhook_batch");
  EXPECT_EQ(body.at("endpoint").as_string(), "we_1");
  ASSERT_EQ(body.at("data").as_array().size(), 3u);
  EXPECT_EQ(body.at("data").as_array()[0].at("syncId").as_int64(), 10);

  BatchBuilder small("we_2", 100, 200);  // one event is about 150 bytes
  EXPECT_TRUE(small.add(*event_of(delta('U', 1)), 1));
  EXPECT_FALSE(small.add(*event_of(delta('U', 2)), 2)) << "the byte cap holds the second event back";
  BatchBuilder tiny("we_3", 100, 10);
  EXPECT_TRUE(tiny.add(*event_of(delta('U', 1)), 1)) << "one event larger than the cap still goes alone";
}

TEST(WebhookRetries, StandardScheduleIsEightAttemptsThenDisable) {
  const auto schedule = RetrySchedule::standard();
  EXPECT_EQ(schedule.attempts(), 8);
  EXPECT_EQ(*schedule.delay_after(1), 5'000);
  EXPECT_EQ(*schedule.delay_after(2), 300'000);
  EXPECT_EQ(*schedule.delay_after(3), 1'800'000);
  EXPECT_EQ(*schedule.delay_after(4), 7'200'000);
  EXPECT_EQ(*schedule.delay_after(5), 18'000'000);
  EXPECT_EQ(*schedule.delay_after(7), 36'000'000);
  EXPECT_FALSE(schedule.delay_after(8));
  auto parsed = RetrySchedule::parse("100,200");
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->attempts(), 3);
  EXPECT_FALSE(RetrySchedule::parse("1,,2"));
  EXPECT_FALSE(RetrySchedule::parse("-5"));
}

TEST(WebhookUrls, RefusesNonHttpSelfAndNonHttpPorts) {
  EXPECT_FALSE(refused_url_reason("http://127.0.0.1:9000/hook", 8787));
  EXPECT_FALSE(refused_url_reason("https://example.com/hook", 8787));
  EXPECT_TRUE(refused_url_reason("ftp://example.com/hook", 8787));
  EXPECT_TRUE(refused_url_reason("not a url", 8787));
  EXPECT_TRUE(refused_url_reason("http://user:pw@example.com/", 8787));
  EXPECT_TRUE(refused_url_reason("http://127.0.0.1:8787/hook", 8787));
  EXPECT_TRUE(refused_url_reason("http://localhost:8787/hook", 8787));
  EXPECT_TRUE(refused_url_reason("http://[::1]:8787/hook", 8787));
  EXPECT_TRUE(refused_url_reason("http://127.0.0.1:5432/", 8787));
  EXPECT_TRUE(refused_url_reason("http://127.0.0.1:22/", 8787));
}

}  // namespace
}  // namespace ablo::webhooks
