// Data Source signatures (datasource.md §1.3 and the test list of §7, items 1–14).
#include <gtest/gtest.h>

#include "source/signature.h"
#include "webhooks/signing.h"

namespace ablo::source {
namespace {

constexpr const char* kKey = "sk_test_example_key_do_not_use_in_prod";

TEST(SourceSignatureTest, MatchesTheGoldenVectors) {
  EXPECT_EQ(sign_request(kKey, "msg_1", 1700000000, R"({"type":"load","model":"tasks","id":"task_seed"})").signature,
            "v1,dOZ8WZ7sLIFjYZoPBI7QwkV91A/AhlRPs4ocSBEqZys=");
  EXPECT_EQ(sign_request(kKey, "msg_2", 1700000300, R"({"type":"events","cursor":"2","limit":100})").signature,
            "v1,Jxxpm2uCaGYFIydycj8guuHNRIQvGVTmMtHAokjEgJY=");
  // UTF-8 bytes as sent, not re-serialized.
  EXPECT_EQ(sign_request(kKey, "msg_3", 1700000000,
                         "{\"type\":\"commit\",\"clientTxId\":\"tx_1\",\"operations\":[{\"type\":\"CREATE\",\"model\":"
                         "\"tasks\",\"id\":\"t1\",\"input\":{\"title\":\"Zo\xC3\xAB \xE2\x9C\x93\"}}]}")
                .signature,
            "v1,boT9xa0cIWNsFeB7GZH+KxkqaPBNtqicE8EC2eJufg8=");
}

ReceivedHeaders signed_headers(std::string_view body, int64_t at, const std::string& key = kKey) {
  const auto made = sign_request(key, "msg_1", at, body);
  return ReceivedHeaders{made.id, made.timestamp, made.signature};
}

TEST(SourceSignatureTest, AcceptsWithinTheToleranceEitherWayAndNoFurther) {
  const std::string body = R"({"events":[]})";
  constexpr int64_t kAt = 1700000000;
  for (int64_t now : {kAt + 300, kAt - 300}) {
    auto checked = check_headers(signed_headers(body, kAt), now);
    ASSERT_TRUE(checked) << checked.error().code;
    EXPECT_TRUE(signed_with(kKey, "msg_1", *checked, body));
  }
  for (int64_t now : {kAt + 301, kAt - 301}) {
    auto checked = check_headers(signed_headers(body, kAt), now);
    ASSERT_FALSE(checked);
    EXPECT_EQ(checked.error().code, "source_timestamp_expired");
  }
  // A custom tolerance of 2 s.
  EXPECT_TRUE(check_headers(signed_headers(body, kAt), kAt + 2, 2));
  EXPECT_FALSE(check_headers(signed_headers(body, kAt), kAt + 3, 2));
}

TEST(SourceSignatureTest, ReportsTheFirstFailingCheckInTheReferenceOrder) {
  constexpr int64_t kNow = 1700000000;
  const auto code = [&](ReceivedHeaders headers) {
    auto checked = check_headers(headers, kNow);
    return checked ? std::string("ok") : checked.error().code;
  };
  EXPECT_EQ(code({"", "garbage", ""}), "source_id_missing");
  EXPECT_EQ(code({"msg", "", "v1,x"}), "source_timestamp_missing");
  EXPECT_EQ(code({"msg", "abc", "v1,x"}), "source_timestamp_invalid");
  EXPECT_EQ(code({"msg", "1.7e9", "v1,x"}), "source_timestamp_invalid");
  EXPECT_EQ(code({"msg", "1000", ""}), "source_timestamp_expired");  // expired before unsigned
  EXPECT_EQ(code({"msg", "1700000000", "v2,xyz"}), "source_signature_missing");
  EXPECT_EQ(code({"msg", "1700000000", "v1,"}), "source_signature_missing");
  EXPECT_EQ(code({"msg", "1700000000", "v1,abc"}), "ok");
}

TEST(SourceSignatureTest, AnyPresentedV1ValueMayMatchAndOneFlippedByteDoesNot) {
  const std::string body = R"({"type":"load"})";
  auto headers = signed_headers(body, 1700000000);
  const std::string good = headers.signature.substr(3);
  headers.signature = "v1,AAAA " + headers.signature;  // a rotation list
  auto checked = check_headers(headers, 1700000000);
  ASSERT_TRUE(checked);
  EXPECT_TRUE(signed_with(kKey, "msg_1", *checked, body));
  std::string flipped = good;
  flipped[5] = flipped[5] == 'A' ? 'B' : 'A';
  checked = check_headers({"msg_1", "1700000000", "v1," + flipped}, 1700000000);
  ASSERT_TRUE(checked);
  EXPECT_FALSE(signed_with(kKey, "msg_1", *checked, body));
  // The body altered by one byte, and the wrong key.
  checked = check_headers(signed_headers(body, 1700000000), 1700000000);
  EXPECT_FALSE(signed_with(kKey, "msg_1", *checked, R"({"type": "load"})"));
  EXPECT_FALSE(signed_with("sk_test_other", "msg_1", *checked, body));
}

TEST(SourceSignatureTest, AStandardWebhooksSecretUsedRawIsNotTheSameKey) {
  const std::string secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  const std::string body = R"({"test": 2432232314})";
  auto webhook = webhooks::sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
  ASSERT_TRUE(webhook);
  EXPECT_EQ(*webhook, "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  EXPECT_NE(sign_request(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).signature, "v1," + *webhook);
}

}  // namespace
}  // namespace ablo::source
