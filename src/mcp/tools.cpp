// The MCP tools: each one is one or a few REST calls made with the session's credential
// (mcp.h says why), plus what an agent needs on top — the stamp it last read as the default
// readAt, its claim named on its writes, waiting in a claim line with progress, and errors
// that say what to do next.
#include <algorithm>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/format.h>

#include "common/random.h"
#include "common/time.h"
#include "mcp/service_impl.h"

namespace ablo::mcp {
namespace json = boost::json;

namespace {

constexpr int64_t kGrantPollMs = 10'000;  // one heartbeat-and-wait per this long while queued
constexpr int64_t kMinGrantPollMs = 500;   // between heartbeats that did not wait
constexpr int64_t kDefaultClaimWaitSeconds = 60;
constexpr int64_t kDefaultTtlSeconds = 60;
constexpr int64_t kDefaultListLimit = 20;

bool flag_of(const json::object& args, std::string_view key, bool fallback) {
  const auto* value = args.if_contains(key);
  return value && value->is_bool() ? value->as_bool() : fallback;
}

std::string scalar_text(const json::value& value) {
  return value.is_string() ? std::string(value.as_string()) : json::serialize(value);
}

// The one-line next step for an error code the REST API answered (the registry's codes).
std::string hint_for(const std::string& code, const json::object& body) {
  if (code == "entity_claimed" || code == "claim_conflict" || code == "intent_conflict") {
    const auto holder = string_member(body, "heldBy");
    const auto until = int_of(body, "heldByExpiresAt");
    return fmt::format("the row is claimed{}{}: call claim_model to queue for it (you get it when they are done)",
                       holder.empty() ? "" : " by " + holder, until ? " until " + iso8601_from_ms(*until) : "");
  }
  if (code == "stale_context" || code == "stale_write" || code == "stale_read") {
    return "another participant changed the row after your readAt: get_model, re-apply your change to the fresh "
           "row, then retry (or pass onStale: overwrite to replace theirs)";
  }
  if (code == "claim_lost" || code == "fence_token_stale" || code == "intent_lost") {
    return "your claim on the row ended (lease lapsed or released): call claim_model again and re-read the row";
  }
  if (code == "grant_timeout") return "not granted within waitSeconds: call claim_model again to re-queue, or do other work";
  if (code == "queue_too_deep") return "the claim line is full: try later or work on another row";
  if (code == "idempotency_conflict") return "this idempotencyKey was used for another write: derive a new key";
  if (code == "capability_scope_denied" || code == "forbidden") {
    return "this credential may not do that: ask for a key with the operation";
  }
  if (code.find("not_found") != std::string::npos) return "no such row: list_records to find it";
  if (code == "invalid_request" || code == "invalid_body") {
    const auto param = string_member(body, "param");
    return param.empty() ? "fix the arguments and retry" : "fix `" + param + "` and retry";
  }
  if (code == "capability_invalid" || code == "apikey_revoked" || code == "apikey_expired" || code == "unauthorized" ||
      code == "jwt_expired" || code == "session_expired") {
    return "the session's credential is no longer valid: start a new session with a valid key";
  }
  if (code == "store_unavailable" || code == "internal_error") return "a server-side failure: retry shortly";
  return "";
}

// `position`: waiters ahead (0 = next after the holder).
std::string queue_message(const std::string& key, int position) {
  return fmt::format("queued for {}: place {} in line ({} waiting ahead)", key, position + 1, position);
}

json::object claim_summary(const json::object& claim) {
  json::object out;
  for (const char* key : {"id", "status", "fenceToken", "expiresAt", "actor", "participantKind", "target", "position"}) {
    if (const auto* value = claim.if_contains(key)) out.emplace(key, *value);
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------- results

void Service::Impl::tool_result(const CallPtr& call, json::object structured) {
  json::array content{json::object{{"type", "text"}, {"text", json::serialize(structured)}}};
  answer(call, json::object{{"content", std::move(content)}, {"structuredContent", std::move(structured)},
                            {"isError", false}});
}

void Service::Impl::tool_error(const CallPtr& call, std::string code, std::string message, std::string hint) {
  std::string text = code + ": " + message;
  if (!hint.empty()) text += " — " + hint;
  json::object error{{"code", code}, {"message", message}};
  if (!hint.empty()) error.emplace("hint", hint);
  answer(call, json::object{{"content", json::array{json::object{{"type", "text"}, {"text", std::move(text)}}}},
                            {"structuredContent", json::object{{"error", std::move(error)}}},
                            {"isError", true}});
}

void Service::Impl::tool_error(const CallPtr& call, const Reply& reply) {
  auto code = string_member(reply.body, "code");
  if (code.empty()) code = reply.status >= 500 ? "internal_error" : "invalid_request";
  auto message = string_member(reply.body, "message");
  if (message.empty()) message = fmt::format("the request failed (HTTP {})", reply.status);
  tool_error(call, code, message, hint_for(code, reply.body));
}

// ---------------------------------------------------------------- dispatch

void Service::Impl::call_tool(const CallPtr& call, const json::object& params) {
  const auto name = string_member(params, "name");
  json::object args;
  if (const auto* given = params.if_contains("arguments"); given && !given->is_null()) {
    if (!given->is_object()) return fail_call(call, kInvalidParams, "arguments must be an object");
    args = given->as_object();
  }
  ensure_catalog(call->session, [this, call, name, args = std::move(args)](bool ok) {
    if (!ok) return fail_call(call, kInternalError, "could not read the schema or this session's authority");
    const auto* schema = call->session->catalog->input_schema(name);
    if (!schema) {
      return fail_call(call, kInvalidParams, "Unknown tool: " + name + " (tools/list names the tools)");
    }
    if (auto problem = check_arguments(*schema, args)) {
      return fail_call(call, kInvalidParams, "Invalid arguments for tool " + name + ": " + *problem,
                       json::object{{"tool", name}, {"problem", *problem}});
    }
    using Tool = void (Impl::*)(const CallPtr&, const json::object&);
    static const std::map<std::string, Tool, std::less<>> kTools{
        {"get_schema", &Impl::get_schema},         {"list_records", &Impl::list_records},
        {"get_model", &Impl::get_model},           {"create_model", &Impl::create_model},
        {"update_model", &Impl::update_model},     {"delete_model", &Impl::delete_model},
        {"claim_model", &Impl::claim_model},       {"release_claim", &Impl::release_claim},
        {"list_claims", &Impl::list_claims},       {"wait_for_change", &Impl::wait_for_change},
        {"tail_logs", &Impl::tail_logs},           {"get_usage", &Impl::get_usage},
    };
    (this->*kTools.at(name))(call, args);
  });
}

// ---------------------------------------------------------------- reads

void Service::Impl::get_schema(const CallPtr& call, const json::object&) {
  rest(call->session, "GET", "/v1/schema", nullptr, [this, call](Reply reply) {
    if (!reply.ok()) return tool_error(call, reply);
    json::object out;
    for (const char* key : {"models", "schemaId", "version"}) {
      if (const auto* value = reply.body.if_contains(key)) out.emplace(key, *value);
    }
    tool_result(call, std::move(out));
  });
}

void Service::Impl::list_records(const CallPtr& call, const json::object& args) {
  const auto model = string_member(args, "model");
  std::string target = model_path(model) + "?limit=" + std::to_string(int_of(args, "limit").value_or(kDefaultListLimit));
  for (const char* key : {"order_by", "order", "starting_after"}) {
    if (auto value = string_member(args, key); !value.empty()) target += std::string("&") + key + "=" + encoded(value);
  }
  if (const auto* where = args.if_contains("where"); where && where->is_object()) {
    for (const auto& [field, value] : where->as_object()) target += "&" + encoded(field) + "=" + encoded(scalar_text(value));
  }
  rest(call->session, "GET", target, nullptr, [this, call, model](Reply reply) {
    if (!reply.ok()) return tool_error(call, reply);
    if (const auto* evidence = reply.body.if_contains("evidence"); evidence && evidence->is_array()) {
      for (const auto& entry : evidence->as_array()) {
        if (!entry.is_object()) continue;
        const auto id = string_member(entry.as_object(), "id");
        if (auto stamp = int_of(entry.as_object(), "stamp"); stamp && !id.empty()) {
          call->session->stamps.record(row_key(model, id), *stamp);
        }
      }
    }
    json::object out;
    for (const char* key : {"data", "has_more", "next_cursor", "stamp"}) {
      if (const auto* value = reply.body.if_contains(key)) out.emplace(key, *value);
    }
    tool_result(call, std::move(out));
  });
}

void Service::Impl::get_model(const CallPtr& call, const json::object& args) {
  const auto model = string_member(args, "model");
  const auto id = string_member(args, "id");
  rest(call->session, "GET", row_path(model, id), nullptr, [this, call, model, id](Reply reply) {
    if (!reply.ok()) return tool_error(call, reply);
    if (auto stamp = int_of(reply.body, "stamp")) call->session->stamps.record(row_key(model, id), *stamp);
    json::object out{{"data", reply.body.contains("data") ? reply.body.at("data") : json::value(nullptr)},
                     {"stamp", reply.body.contains("stamp") ? reply.body.at("stamp") : json::value(nullptr)}};
    json::array claims;
    if (const auto* listed = reply.body.if_contains("claims"); listed && listed->is_array()) {
      for (const auto& claim : listed->as_array()) {
        if (claim.is_object()) claims.push_back(claim_summary(claim.as_object()));
      }
    }
    out.emplace("claims", std::move(claims));
    tool_result(call, std::move(out));
  });
}

// ---------------------------------------------------------------- writes

void Service::Impl::create_model(const CallPtr& call, const json::object& args) {
  const auto model = string_member(args, "model");
  // The id is chosen here when the agent names none, so the result can say which row it made.
  auto id = string_member(args, "id");
  if (id.empty()) id = random_uuid();
  json::object body{{"id", id}, {"data", args.at("data")}};
  RestCall rest_call{"POST", model_path(model), json::serialize(body), call->session->token,
                     string_member(args, "idempotencyKey")};
  rest_with(call->session, std::move(rest_call), [this, call, model, id](Reply reply) {
    if (!reply.ok()) return tool_error(call, reply);
    const auto last = int_of(reply.body, "lastSyncId").value_or(0);
    call->session->stamps.record(row_key(model, id), last);
    tool_result(call, json::object{{"ok", true}, {"model", model}, {"id", id}, {"lastSyncId", last}, {"stamp", last}});
  });
}

void Service::Impl::update_model(const CallPtr& call, const json::object& args) { write_row(call, args, "PATCH"); }
void Service::Impl::delete_model(const CallPtr& call, const json::object& args) { write_row(call, args, "DELETE"); }

void Service::Impl::write_row(const CallPtr& call, const json::object& args, std::string method) {
  auto& session = *call->session;
  const auto model = string_member(args, "model");
  const auto id = string_member(args, "id");
  const auto key = row_key(model, id);
  json::object body;
  if (method == "PATCH") body.emplace("data", args.at("data"));
  // The stale guard by default: the row version this session last saw.
  if (auto read_at = int_of(args, "readAt")) {
    body.emplace("readAt", *read_at);
  } else if (auto seen = session.stamps.find(key)) {
    body.emplace("readAt", *seen);
  }
  if (auto on_stale = string_member(args, "onStale"); !on_stale.empty()) body.emplace("onStale", on_stale);
  // Written under this session's claim on the row, when it holds one: the fence check applies.
  if (auto held = session.claims.find(key); held != session.claims.end() && !held->second.queued) {
    body.emplace("claim", held->second.claim_id);
    body.emplace("fenceToken", held->second.fence_token);
  }
  RestCall rest_call{method, row_path(model, id), json::serialize(body), session.token, string_member(args, "idempotencyKey")};
  rest_with(call->session, std::move(rest_call), [this, call, model, id, key, method](Reply reply) {
    if (!reply.ok()) return tool_error(call, reply);
    const auto last = int_of(reply.body, "lastSyncId").value_or(0);
    if (method == "DELETE") {
      call->session->stamps.erase(key);
    } else {
      call->session->stamps.record(key, last);
    }
    json::object out{{"ok", true}, {"model", model}, {"id", id}, {"lastSyncId", last}, {"stamp", last}};
    if (const auto* notes = reply.body.if_contains("notifications")) out.emplace("notifications", *notes);
    tool_result(call, std::move(out));
  });
}

// ---------------------------------------------------------------- claims

void Service::Impl::claim_model(const CallPtr& call, const json::object& args) {
  const auto model = string_member(args, "model");
  const auto id = string_member(args, "id");
  const int64_t ttl_ms = int_of(args, "ttlSeconds").value_or(kDefaultTtlSeconds) * 1000;
  const bool queue = flag_of(args, "queue", true);
  const int64_t wait_s = std::min(int_of(args, "waitSeconds").value_or(kDefaultClaimWaitSeconds), options.max_wait_seconds);
  json::object body{{"ttl", fmt::format("{}s", ttl_ms / 1000)}, {"queue", queue}};
  if (const auto* fields = args.if_contains("fields")) body.emplace("fields", *fields);
  if (auto description = string_member(args, "description"); !description.empty()) body.emplace("description", description);
  rest(call->session, "POST", row_path(model, id) + "/claim", std::move(body),
       [this, call, model, id, ttl_ms, wait_s](Reply reply) {
         if (!reply.ok()) return tool_error(call, reply);
         const auto status = string_member(reply.body, "status");
         const auto claim_id = string_member(reply.body, "id");
         const auto key = row_key(model, id);
         if (status == "active") return granted(call, model, id, reply.body, ttl_ms);
         // Queued: wait in line, streaming the position, without holding a thread anywhere.
         call->session->claims[key] = HeldClaim{claim_id, 0, ttl_ms, true};
         stream_answer(call);
         const auto position = int_of(reply.body, "position").value_or(0);
         const auto holder = string_member(reply.body, "heldBy");
         progress(call, queue_message(key, static_cast<int>(position)) + (holder.empty() ? "" : ", held by " + holder));
         std::weak_ptr<Session> weak = call->session;
         call->on_cancel = [this, weak, key, claim_id] {
           auto session = weak.lock();
           if (!session) return;
           session->claims.erase(key);
           give_up_claim(session->token, claim_id);
         };
         await_grant(call, key, claim_id, ttl_ms, now_ms() + wait_s * 1000, static_cast<int>(position));
       });
}

void Service::Impl::await_grant(const CallPtr& call, std::string key, std::string claim_id, int64_t ttl_ms,
                                int64_t deadline_ms, int last_position) {
  if (call->finished) return;
  const int64_t remaining = deadline_ms - now_ms();
  if (remaining <= 0) {
    if (call->on_cancel) call->on_cancel();  // leaves the line
    call->on_cancel = nullptr;
    return tool_error(call, "grant_timeout", "the claim was not granted within waitSeconds; you left the line",
                      hint_for("grant_timeout", {}));
  }
  json::object body{{"ttl", fmt::format("{}s", ttl_ms / 1000)}, {"waitForGrantMs", std::min(remaining, kGrantPollMs)}};
  const int64_t asked_ms = now_ms();
  rest(call->session, "POST", "/v1/claims/" + encoded(claim_id) + "/heartbeat", std::move(body),
       [this, call, key, claim_id, ttl_ms, deadline_ms, last_position, asked_ms](Reply reply) {
         if (call->finished) return;  // cancelled meanwhile: on_cancel released the ticket
         if (!reply.ok()) {
           call->session->claims.erase(key);
           call->on_cancel = nullptr;
           return tool_error(call, reply);
         }
         const auto status = string_member(reply.body, "status");
         const auto slash = key.find('/');
         if (status == "held" || status == "active") {
           // The heartbeat does not carry the grant's fence token: the claim itself does.
           return rest(call->session, "GET", "/v1/claims/" + encoded(claim_id), nullptr,
                       [this, call, key, slash, claim_id, ttl_ms](Reply claim) {
                         if (call->finished) return;
                         if (!claim.ok()) claim.body = json::object{{"id", claim_id}};
                         granted(call, key.substr(0, slash), key.substr(slash + 1), claim.body, ttl_ms);
                       });
         }
         const auto position = static_cast<int>(int_of(reply.body, "position").value_or(last_position));
         if (position != last_position) progress(call, queue_message(key, position));
         if (now_ms() - asked_ms >= kMinGrantPollMs) return await_grant(call, key, claim_id, ttl_ms, deadline_ms, position);
         // Answered at once while still queued (the server had no room to wait): poll gently.
         auto pause = std::make_shared<boost::asio::steady_timer>(io, std::chrono::milliseconds(kMinGrantPollMs));
         pause->async_wait([this, pause, call, key, claim_id, ttl_ms, deadline_ms, position](boost::system::error_code) {
           await_grant(call, key, claim_id, ttl_ms, deadline_ms, position);
         });
       });
}

// The claim is active: remember it (renewed while the session lives), then answer with the
// fresh row — read after the grant, so it shows the previous holder's last write.
void Service::Impl::granted(const CallPtr& call, const std::string& model, const std::string& id,
                            const json::object& claim, int64_t ttl_ms) {
  auto& session = *call->session;
  const auto key = row_key(model, id);
  const auto claim_id = string_member(claim, "id");
  session.claims[key] = HeldClaim{claim_id, int_of(claim, "fenceToken").value_or(0), ttl_ms, false};
  // Renewed at a third of the lease (the tick's period bounds how late).
  const int64_t due = now_ms() + ttl_ms / 3;
  session.next_renewal_ms = session.next_renewal_ms > 0 ? std::min(session.next_renewal_ms, due) : due;
  std::weak_ptr<Session> weak = call->session;
  call->on_cancel = [this, weak, key, claim_id] {  // granted, but nobody will learn it: give it back
    auto s = weak.lock();
    if (!s) return;
    s->claims.erase(key);
    give_up_claim(s->token, claim_id);
  };
  rest(call->session, "GET", row_path(model, id), nullptr, [this, call, model, id, key, claim](Reply reply) {
    if (call->finished) return;
    call->on_cancel = nullptr;
    if (!reply.ok()) return tool_error(call, reply);
    auto& session = *call->session;
    const auto stamp = int_of(reply.body, "stamp").value_or(0);
    session.stamps.record(key, stamp);
    const auto& held = session.claims[key];
    json::object out{{"status", "granted"}, {"claimId", held.claim_id}, {"fenceToken", held.fence_token}};
    if (auto expires = int_of(claim, "expiresAt")) out.emplace("expiresAt", iso8601_from_ms(*expires));
    out.emplace("model", model);
    out.emplace("id", id);
    out.emplace("data", reply.body.contains("data") ? reply.body.at("data") : json::value(nullptr));
    out.emplace("stamp", stamp);
    tool_result(call, std::move(out));
  });
}

void Service::Impl::release_claim(const CallPtr& call, const json::object& args) {
  const auto model = string_member(args, "model");
  const auto id = string_member(args, "id");
  rest(call->session, "DELETE", row_path(model, id) + "/claim", nullptr, [this, call, model, id](Reply reply) {
    if (!reply.ok()) return tool_error(call, reply);
    call->session->claims.erase(row_key(model, id));
    const auto* released = reply.body.if_contains("released");
    tool_result(call, json::object{{"released", released && released->is_bool() ? released->as_bool() : true},
                                   {"model", model},
                                   {"id", id}});
  });
}

void Service::Impl::list_claims(const CallPtr& call, const json::object& args) {
  const auto model = string_member(args, "model");
  const auto id = string_member(args, "id");
  rest(call->session, "GET", "/v1/claims", nullptr, [this, call, model, id](Reply reply) {
    if (!reply.ok()) return tool_error(call, reply);
    json::array data;
    if (const auto* listed = reply.body.if_contains("data"); listed && listed->is_array()) {
      for (const auto& entry : listed->as_array()) {
        if (!entry.is_object()) continue;
        const auto* target = entry.as_object().if_contains("target");
        const auto& t = target && target->is_object() ? target->as_object() : json::object{};
        if (!model.empty() && string_member(t, "model") != model) continue;
        if (!id.empty() && string_member(t, "id") != id) continue;
        data.push_back(claim_summary(entry.as_object()));
      }
    }
    tool_result(call, json::object{{"data", std::move(data)}});
  });
}

// Renews every claim of the session (and keeps its tickets in line) at a third of the
// shortest lease: the session is alive, so its claims are.
void Service::Impl::renew_claims(const SessionPtr& session, int64_t now) {
  if (session->claims.empty() || now < session->next_renewal_ms) return;
  int64_t shortest = INT64_MAX;
  for (const auto& [key, claim] : session->claims) shortest = std::min(shortest, claim.ttl_ms);
  session->next_renewal_ms = now + std::max<int64_t>(shortest / 3, 500);
  rest(session, "POST", "/v1/claims/heartbeat", json::object{}, [session](Reply reply) {
    if (!reply.ok()) return;
    const auto* results = reply.body.if_contains("results");
    if (!results || !results->is_array()) return;
    for (const auto& entry : results->as_array()) {
      if (!entry.is_object() || string_member(entry.as_object(), "status") != "lost") continue;
      const auto lost = string_member(entry.as_object(), "claimId");
      std::erase_if(session->claims, [&](const auto& held) { return held.second.claim_id == lost; });
    }
  });
}

// ---------------------------------------------------------------- account

void Service::Impl::tail_logs(const CallPtr& call, const json::object& args) {
  std::string target = "/v1/logs?limit=" + std::to_string(int_of(args, "limit").value_or(kDefaultListLimit));
  if (auto after = int_of(args, "after")) target += "&after=" + std::to_string(*after);
  for (const char* key : {"model", "op"}) {
    if (auto value = string_member(args, key); !value.empty()) target += std::string("&") + key + "=" + encoded(value);
  }
  rest(call->session, "GET", target, nullptr, [this, call](Reply reply) {
    if (!reply.ok()) return tool_error(call, reply);
    tool_result(call, std::move(reply.body));
  });
}

void Service::Impl::get_usage(const CallPtr& call, const json::object& args) {
  const int64_t now = now_ms();
  auto starting = string_member(args, "startingAt");
  auto ending = string_member(args, "endingAt");
  if (starting.empty()) starting = iso8601_from_ms(now - 7 * 24 * 3600 * 1000LL);
  if (ending.empty()) ending = iso8601_from_ms(now);
  // Usage is the key's, not the session's: asked with the credential the agent presented.
  rest(
      call->session, "GET", "/v1/usage?starting_at=" + encoded(starting) + "&ending_at=" + encoded(ending), nullptr,
      [this, call](Reply reply) {
        if (!reply.ok()) return tool_error(call, reply);
        tool_result(call, std::move(reply.body));
      },
      /*as_presented=*/true);
}

}  // namespace ablo::mcp
