/* The C API (capi/ablo_c.h) from C11, without a server (U13 of docs/client-library.md §14.1):
 * ownership rules (NULL frees, returned strings, errors), the JSON shapes of §16, errors for
 * bad input. The client points at a closed port: writes are optimistic, readable at once
 * through ablo_get/ablo_list, and never confirmed. Runs under ASan in the sanitizer pass, so
 * every string, error and handle made here is freed here. */
#define _POSIX_C_SOURCE 200809L /* mkstemp, close, unlink */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ablo_c.h"

static int failures = 0;

#define CHECK(condition)                                                      \
  do {                                                                        \
    if (!(condition)) {                                                       \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #condition); \
      ++failures;                                                             \
    }                                                                         \
  } while (0)

/* `text` contains `part` (JSON shapes are checked by their members' text). */
#define CHECK_HAS(text, part)                                                            \
  do {                                                                                   \
    const char* checked_text_ = (text);                                                  \
    if (!checked_text_ || !strstr(checked_text_, (part))) {                              \
      fprintf(stderr, "%s:%d: expected %s in: %s\n", __FILE__, __LINE__, (part),          \
              checked_text_ ? checked_text_ : "(NULL)");                                 \
      ++failures;                                                                        \
    }                                                                                    \
  } while (0)

/* Checks the error's code and frees it. */
#define CHECK_ERROR(error, code)                                                                      \
  do {                                                                                                \
    ablo_error* checked_error_ = (error);                                                             \
    if (!checked_error_) {                                                                            \
      fprintf(stderr, "%s:%d: expected error %s, got none\n", __FILE__, __LINE__, (code));            \
      ++failures;                                                                                     \
    } else {                                                                                          \
      if (strcmp(ablo_error_code(checked_error_), (code)) != 0) {                                     \
        fprintf(stderr, "%s:%d: expected error %s, got %s (%s)\n", __FILE__, __LINE__, (code),        \
                ablo_error_code(checked_error_), ablo_error_message(checked_error_));                 \
        ++failures;                                                                                   \
      }                                                                                               \
      ablo_error_free(checked_error_);                                                                \
    }                                                                                                 \
  } while (0)

static const char* kSchema =
    "{\"v\":3,\"models\":{\"todos\":{\"fields\":{"
    "\"title\":{\"type\":\"string\",\"isOptional\":false,\"isIndexed\":false},"
    "\"status\":{\"type\":\"enum\",\"enumValues\":[\"todo\",\"done\"],\"isOptional\":false,\"isIndexed\":false},"
    "\"position\":{\"type\":\"number\",\"isOptional\":true,\"isIndexed\":false}},"
    "\"relations\":{},\"load\":\"instant\",\"typename\":\"todos\","
    "\"tenancy\":{\"kind\":\"column\",\"column\":\"organization_id\"},\"plane\":\"tenant\"}},\"identityRoles\":[]}";

/* Options of an offline client (port 1 is closed) with the given store and callback mode. */
static char* offline_options(const char* store_path, const char* callbacks) {
  const char* format =
      "{\"base_url\":\"http://127.0.0.1:1\",\"api_key\":\"sk_test_offline\",\"schema\":%s,"
      "\"store_path\":\"%s\",\"callbacks\":\"%s\",\"timing\":{\"batch_delay_ms\":5,"
      "\"reconnect\":{\"initial_ms\":50,\"max_ms\":200,\"jitter\":0.5}}}";
  size_t size = strlen(format) + strlen(kSchema) + strlen(store_path) + strlen(callbacks) + 1;
  char* text = malloc(size);
  snprintf(text, size, format, kSchema, store_path, callbacks);
  return text;
}

static ablo_client* new_client(const char* store_path, const char* callbacks) {
  char* options = offline_options(store_path, callbacks);
  ablo_client* client = NULL;
  ablo_error* error = NULL;
  ablo_status status = ablo_client_new(options, &client, &error);
  free(options);
  if (status != ABLO_OK) {
    fprintf(stderr, "ablo_client_new: %s: %s\n", ablo_error_code(error), ablo_error_message(error));
    ablo_error_free(error);
    exit(1);
  }
  return client;
}

/* Creates a todo and returns its (unconfirmed) pending write. */
static ablo_pending* create_todo(ablo_client* client, const char* id, const char* title, int position) {
  char data[256];
  char options[128];
  snprintf(data, sizeof data, "{\"title\":\"%s\",\"status\":\"todo\",\"position\":%d}", title, position);
  snprintf(options, sizeof options, "{\"id\":\"%s\"}", id);
  return ablo_create(client, "todos", data, options);
}

static void test_free_null_and_version(void) {
  ablo_error_free(NULL);
  ablo_string_free(NULL);
  ablo_client_free(NULL);
  ablo_pending_free(NULL);
  ablo_observer_free(NULL);
  ablo_claim_free(NULL);
  CHECK(ABLO_C_API_VERSION == 1);
  CHECK(strlen(ablo_version()) >= 5);
  CHECK(ablo_error_code(NULL)[0] == '\0');
  CHECK(ablo_error_json(NULL) == NULL);
}

static void test_bad_client_options(void) {
  ablo_client* client = (ablo_client*)1;
  ablo_error* error = NULL;
  CHECK(ablo_client_new("{not json", &client, &error) == ABLO_ERROR);
  CHECK(client == NULL);
  CHECK(error != NULL);
  CHECK(strlen(ablo_error_message(error)) > 0);
  CHECK(strcmp(ablo_error_kind(error), "AbloValidationError") == 0);
  CHECK(ablo_error_retryable(error) == 0);
  char* json = ablo_error_json(error);
  CHECK_HAS(json, "\"code\":\"invalid_options\"");
  CHECK_HAS(json, "\"kind\":\"AbloValidationError\"");
  CHECK_HAS(json, "\"retryable\":false");
  CHECK_HAS(json, "\"httpStatus\":");
  CHECK_HAS(json, "\"details\":{}");
  ablo_string_free(json);
  CHECK_ERROR(error, "invalid_options");

  error = NULL;
  CHECK(ablo_client_new("{\"base_url\":\"http://127.0.0.1:1\",\"colour\":\"red\"}", &client, &error) == ABLO_ERROR);
  CHECK_HAS(ablo_error_message(error), "colour");
  CHECK_ERROR(error, "invalid_options");

  error = NULL;
  CHECK(ablo_client_new("{\"callbacks\":\"sometimes\"}", &client, &error) == ABLO_ERROR);
  CHECK_ERROR(error, "invalid_options");

  error = NULL;
  CHECK(ablo_client_new("{\"base_url\":\"http://127.0.0.1:1\",\"api_key\":\"sk_x\",\"schema\":\"{\\\"v\\\":99}\"}",
                        &client, &error) == ABLO_ERROR);
  CHECK(error != NULL);
  ablo_error_free(error);

  /* A NULL error pointer is allowed: the status alone reports the failure. */
  CHECK(ablo_client_new("[]", &client, NULL) == ABLO_ERROR);
}

static void test_offline_writes_and_reads(void) {
  ablo_client* client = new_client(":memory:", "manual");
  ablo_error* error = NULL;
  char* json = NULL;

  ablo_pending* first = create_todo(client, "t1", "write the C API", 2);
  ablo_pending* second = create_todo(client, "t2", "test it", 1);
  CHECK(first != NULL && second != NULL);
  /* Offline: never confirmed, so a short wait times out and leaves the pending valid. */
  CHECK(ablo_pending_wait(first, 20, &json, &error) == ABLO_TIMEOUT);
  CHECK(json == NULL && error == NULL);
  CHECK(ablo_pending_ready(first) == 0);

  CHECK(ablo_get(client, "todos", "t1", &json, &error) == ABLO_OK);
  CHECK_HAS(json, "\"model\":\"todos\"");
  CHECK_HAS(json, "\"id\":\"t1\"");
  CHECK_HAS(json, "\"title\":\"write the C API\"");
  CHECK_HAS(json, "\"pending\":true");
  CHECK_HAS(json, "\"archived\":false");
  CHECK_HAS(json, "\"version\":");
  ablo_string_free(json);

  CHECK(ablo_get(client, "todos", "absent", &json, &error) == ABLO_OK);
  CHECK(json == NULL);

  ablo_pending* update = ablo_update(client, "todos", "t1", "{\"status\":\"done\"}", NULL);
  CHECK(ablo_get(client, "todos", "t1", &json, NULL) == ABLO_OK);
  CHECK_HAS(json, "\"status\":\"done\"");
  ablo_string_free(json);

  CHECK(ablo_list(client, "todos", "{\"where\":[[\"status\",\"=\",\"todo\"]],\"orderBy\":[[\"position\",\"asc\"]]}", &json,
                  &error) == ABLO_OK);
  CHECK(json != NULL && json[0] == '[');
  CHECK_HAS(json, "\"id\":\"t2\"");
  CHECK(json && !strstr(json, "\"id\":\"t1\""));
  ablo_string_free(json);

  CHECK(ablo_list(client, "todos", "{\"where\":[[\"title\",\"LIKE\",\"%C API\"]],\"limit\":5}", &json, &error) == ABLO_OK);
  CHECK_HAS(json, "\"id\":\"t1\"");
  ablo_string_free(json);

  CHECK(ablo_list(client, "todos", NULL, &json, &error) == ABLO_OK); /* NULL query: every live row */
  CHECK_HAS(json, "\"id\":\"t1\"");
  CHECK_HAS(json, "\"id\":\"t2\"");
  ablo_string_free(json);

  /* Bad input: invalid_request, nothing returned. */
  CHECK(ablo_list(client, "todos", "{\"where\":[[\"status\",\"~\",1]]}", &json, &error) == ABLO_ERROR);
  CHECK(json == NULL);
  CHECK_ERROR(error, "invalid_request");
  error = NULL;
  CHECK(ablo_list(client, "todos", "{\"where\":", &json, &error) == ABLO_ERROR);
  CHECK_ERROR(error, "invalid_request");
  error = NULL;
  CHECK(ablo_list(client, "todos", "{\"sortBy\":[]}", &json, &error) == ABLO_ERROR);
  CHECK_ERROR(error, "invalid_request");
  error = NULL;
  CHECK(ablo_get(client, NULL, "t1", &json, &error) == ABLO_ERROR);
  CHECK_ERROR(error, "invalid_request");

  /* A write with bad input fails its pending at once (ready, an error, no change). */
  ablo_pending* bad = ablo_create(client, "todos", "{\"title\":", NULL);
  CHECK(ablo_pending_ready(bad) == 1);
  error = NULL;
  CHECK(ablo_pending_wait(bad, 0, &json, &error) == ABLO_ERROR);
  CHECK(json == NULL);
  CHECK_ERROR(error, "invalid_request");
  /* Single consumer: a second take fails. */
  error = NULL;
  CHECK(ablo_pending_wait(bad, 0, &json, &error) == ABLO_ERROR);
  CHECK_ERROR(error, "invalid_request");
  ablo_pending_free(bad);

  bad = ablo_update(client, "todos", "t1", "{\"title\":\"x\"}", "{\"onStale\":\"maybe\"}");
  error = NULL;
  CHECK(ablo_pending_wait(bad, -1, &json, &error) == ABLO_ERROR);
  CHECK_ERROR(error, "invalid_request");
  ablo_pending_free(bad);

  bad = ablo_commit(client, "{\"action\":\"create\"}", NULL);
  error = NULL;
  CHECK(ablo_pending_wait(bad, -1, &json, &error) == ABLO_ERROR);
  CHECK_ERROR(error, "invalid_request");
  ablo_pending_free(bad);

  /* ablo_fetch: a pending like any other; with no server it fails (no credential yet). */
  ablo_pending* fetch = ablo_fetch(client, "todos", "{\"limit\":1}");
  error = NULL;
  CHECK(ablo_pending_wait(fetch, 10000, &json, &error) == ABLO_ERROR);
  CHECK_ERROR(error, "ws_not_ready");
  ablo_pending_free(fetch);

  /* A receipt is not a claim. */
  error = NULL;
  ablo_claim* claim = (ablo_claim*)1;
  CHECK(ablo_pending_take_claim(update, 0, &claim, &error) == ABLO_ERROR);
  CHECK(claim == NULL);
  CHECK_ERROR(error, "invalid_request");

  json = ablo_client_status(client);
  CHECK_HAS(json, "\"state\":");
  CHECK_HAS(json, "\"cursor\":0");
  CHECK_HAS(json, "\"pendingWrites\":");
  CHECK_HAS(json, "\"clockOffsetMs\":");
  ablo_string_free(json);

  json = ablo_presence_others(client);
  CHECK(json && strcmp(json, "[]") == 0);
  ablo_string_free(json);
  CHECK(ablo_claim_state(client, "todos", "t1") == NULL);
  ablo_presence_set_activity(client, "{\"model\":\"todos\",\"id\":\"t1\",\"action\":\"editing\"}");
  ablo_presence_set_activity(client, NULL);
  ablo_client_reconnect_now(client);
  ablo_client_set_auth_token(client, "sk_test_other");

  /* Untaken pendings are freed; the writes stay queued. */
  ablo_pending_free(first);
  ablo_pending_free(second);
  ablo_pending_free(update);
  ablo_client_free(client);
}

struct events {
  int calls;
  char last[4096];
};

static void on_event(void* user_data, const char* event_json) {
  struct events* events = user_data;
  ++events->calls;
  snprintf(events->last, sizeof events->last, "%s", event_json);
}

struct result {
  int calls;
  char code[64];
};

static void on_result(void* user_data, const char* result_json, const ablo_error* error) {
  struct result* result = user_data;
  ++result->calls;
  snprintf(result->code, sizeof result->code, "%s", error ? ablo_error_code(error) : result_json);
}

static void test_manual_callbacks(void) {
  ablo_client* client = new_client(":memory:", "manual");
  struct events live = {0, ""};
  ablo_observer* observer =
      ablo_observe(client, "todos", "{\"orderBy\":[[\"position\",\"desc\"]]}", on_event, &live);
  CHECK(observer != NULL);
  /* Manual callbacks run only on the thread that drains them. */
  CHECK(live.calls == 0);
  ablo_client_run_pending(client, 2000, 100);
  CHECK(live.calls == 1);
  CHECK_HAS(live.last, "\"cause\":\"initial\"");
  CHECK_HAS(live.last, "\"rows\":[]");

  ablo_pending* write = create_todo(client, "m1", "observed", 3);
  for (int i = 0; i < 100 && live.calls < 2; ++i) ablo_client_run_pending(client, 20, 100);
  CHECK(live.calls >= 2);
  CHECK_HAS(live.last, "\"cause\":\"optimistic\"");
  CHECK_HAS(live.last, "\"added\":[\"m1\"]");
  CHECK_HAS(live.last, "\"title\":\"observed\"");
  CHECK_HAS(live.last, "\"removed\":[]");
  CHECK_HAS(live.last, "\"changed\":[]");

  /* A failed pending's callback also waits for the drain; it gets the error, no JSON. */
  struct result result = {0, ""};
  ablo_pending* bad = ablo_update(client, "todos", "m1", "[1]", NULL);
  ablo_pending_then(bad, on_result, &result);
  ablo_pending_free(bad); /* allowed right after then */
  CHECK(result.calls == 0);
  for (int i = 0; i < 100 && result.calls == 0; ++i) ablo_client_run_pending(client, 20, 100);
  CHECK(result.calls == 1);
  CHECK(strcmp(result.code, "invalid_request") == 0);

  CHECK(ablo_observe(client, "todos", "{\"limit\":\"ten\"}", on_event, &live) == NULL);
  CHECK(ablo_subscribe(client, "weather", on_event, &live) == NULL);
  struct events status = {0, ""};
  ablo_observer* status_events = ablo_subscribe(client, "status", on_event, &status);
  ablo_observer* failures_events = ablo_subscribe(client, "mutation_failure", on_event, &status);
  ablo_observer* store_events = ablo_subscribe(client, "store", on_event, &status);
  ablo_observer* presence_events = ablo_subscribe(client, "presence", on_event, &status);
  CHECK(status_events && failures_events && store_events && presence_events);
  ablo_client_reconnect_now(client);
  for (int i = 0; i < 100 && status.calls == 0; ++i) ablo_client_run_pending(client, 20, 100);
  CHECK(status.calls > 0);
  CHECK_HAS(status.last, "\"state\":");

  /* Freed observers get nothing more. */
  ablo_observer_free(observer);
  int calls = live.calls;
  ablo_pending* later = create_todo(client, "m2", "not observed", 4);
  ablo_client_run_pending(client, 100, 100);
  CHECK(live.calls == calls);

  /* A fail-fast claim while offline: ws_not_ready; a claim pending is not JSON. */
  ablo_pending* claim_pending = ablo_claim_acquire(client, "todos", "m1", "{\"wait\":false,\"ttlMs\":5000}");
  char* json = NULL;
  ablo_error* error = NULL;
  CHECK(ablo_pending_wait(claim_pending, 0, &json, &error) == ABLO_ERROR);
  CHECK_ERROR(error, "invalid_request");
  error = NULL;
  ablo_claim* claim = NULL;
  CHECK(ablo_pending_take_claim(claim_pending, 5000, &claim, &error) == ABLO_ERROR);
  CHECK(claim == NULL);
  CHECK_ERROR(error, "ws_not_ready");
  ablo_pending_free(claim_pending);
  claim_pending = ablo_claim_acquire(client, "todos", "m1", "{\"ttl\":5000}");
  error = NULL;
  CHECK(ablo_pending_take_claim(claim_pending, 0, &claim, &error) == ABLO_ERROR);
  CHECK_ERROR(error, "invalid_request");
  ablo_pending_free(claim_pending);

  ablo_observer_free(status_events);
  ablo_observer_free(failures_events);
  ablo_observer_free(store_events);
  ablo_observer_free(presence_events);
  ablo_pending_free(write);
  ablo_client_free(client);
  /* A handle outliving its client fails with model_disposed. */
  error = NULL;
  CHECK(ablo_pending_wait(later, 2000, &json, &error) == ABLO_ERROR);
  CHECK_ERROR(error, "model_disposed");
  ablo_pending_free(later);
}

static void test_file_store_survives_restart(void) {
  char path[] = "/tmp/ablo_c_api_test_XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  close(fd);
  unlink(path); /* the client creates it */

  ablo_client* client = new_client(path, "thread");
  ablo_pending* write = create_todo(client, "f1", "kept offline", 1);
  ablo_pending_free(write);
  ablo_client_free(client);

  client = new_client(path, "inline");
  char* json = NULL;
  CHECK(ablo_get(client, "todos", "f1", &json, NULL) == ABLO_OK);
  CHECK_HAS(json, "\"title\":\"kept offline\"");
  CHECK_HAS(json, "\"pending\":true");
  ablo_string_free(json);
  json = ablo_client_status(client);
  CHECK_HAS(json, "\"pendingWrites\":1");
  ablo_string_free(json);
  ablo_client_free(client);

  unlink(path);
  char other[sizeof path + 16];
  static const char* const suffixes[] = {"-wal", "-shm", "-journal", ".lock"};
  for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; ++i) {
    snprintf(other, sizeof other, "%s%s", path, suffixes[i]);
    unlink(other);
  }
}

/* Undo offline: recording needs no server (writes apply optimistically); a group is one entry. */
static void test_undo_history_offline(void) {
  ablo_client* client = new_client(":memory:", "thread");
  ablo_error* error = NULL;
  CHECK(ablo_undo_scope(client, "edits", NULL, &error) == ABLO_OK);
  CHECK(ablo_undo_scope(client, "bad", "{\"maxHistory\":0}", &error) == ABLO_ERROR);
  CHECK_ERROR(error, "invalid_request");
  error = NULL;
  CHECK(ablo_undo_scope(NULL, "edits", NULL, &error) == ABLO_ERROR);
  CHECK_ERROR(error, "invalid_request");
  CHECK(ablo_can_undo(client, "edits") == 0);
  ablo_undo_begin_group(client, "edits", "two todos");
  ablo_pending_free(ablo_create(client, "todos", "{\"title\":\"a\",\"status\":\"todo\",\"position\":1}", "{\"undoScope\":\"edits\"}"));
  ablo_pending_free(ablo_create(client, "todos", "{\"title\":\"b\",\"status\":\"todo\",\"position\":2}", "{\"undoScope\":\"edits\"}"));
  ablo_undo_end_group(client, "edits");
  ablo_undo_end_group(client, "edits"); /* no group open: nothing happens */
  CHECK(ablo_can_undo(client, "edits") == 1);
  CHECK(ablo_can_redo(client, "edits") == 0);
  ablo_undo_clear(client, "edits");
  CHECK(ablo_can_undo(client, "edits") == 0);
  ablo_pending* nothing = ablo_undo(NULL, "edits");
  char* json = NULL;
  error = NULL;
  CHECK(ablo_pending_wait(nothing, 1000, &json, &error) == ABLO_ERROR);
  CHECK_ERROR(error, "invalid_request");
  ablo_pending_free(nothing);
  ablo_undo_begin_group(client, "edits", "left open"); /* freed with the client */
  ablo_client_free(client);
}

int main(void) {
  test_free_null_and_version();
  test_bad_client_options();
  test_offline_writes_and_reads();
  test_manual_callbacks();
  test_file_store_survives_restart();
  test_undo_history_offline();
  if (failures) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  printf("c_api_test: all checks passed\n");
  return 0;
}
