/* ablo_c.h — the C API of the native client library (issue 16; design: docs/client-library.md §16).
 *
 * A thin layer over ablo::Client (sdk/client.h) for bindings (Python ctypes/cffi, Rust, Swift,
 * Go cgo). Conventions:
 * - Handles are opaque pointers, created by ablo_*_new / returned by calls, freed by their
 *   ablo_*_free. Freeing NULL is a no-op. A handle stays valid after its client is freed: its
 *   calls then fail with code "model_disposed".
 * - Rows, patches, options and results cross as UTF-8 JSON text (the wire shapes: camelCase
 *   fields, ISO-8601 dates). Strings returned by the library are owned by the caller and freed
 *   with ablo_string_free. Input strings are borrowed for the duration of the call only.
 * - Every function that can fail returns ABLO_OK or ABLO_ERROR and, on ABLO_ERROR, fills
 *   *error (if error is not NULL) with a library-owned ablo_error to free with ablo_error_free.
 * - Thread model (as in C++): every function is thread-safe. Callbacks run on the client's
 *   callback thread, or — with {"callbacks":"manual"} in the options — on the thread that calls
 *   ablo_client_run_pending (a game loop or UI loop). Callbacks must not call ablo_pending_wait
 *   on the same client's pending results when callbacks are "inline".
 * - No function blocks except ablo_pending_wait (bounded by its timeout) and ablo_client_free
 *   (joins the client's threads).
 */
#ifndef ABLO_C_H
#define ABLO_C_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ABLO_C_API_VERSION 1

/* libablo_c.so is built with hidden visibility: only the functions marked here are exported. */
#if defined(ABLO_C_BUILDING)
#define ABLO_C_EXPORT __attribute__((visibility("default")))
#else
#define ABLO_C_EXPORT
#endif

typedef enum ablo_status { ABLO_OK = 0, ABLO_ERROR = 1, ABLO_TIMEOUT = 2 } ablo_status;

typedef struct ablo_client ablo_client;
typedef struct ablo_pending ablo_pending;
typedef struct ablo_observer ablo_observer;
typedef struct ablo_claim ablo_claim;
typedef struct ablo_error ablo_error;

/* ---- errors -------------------------------------------------------------------------------- */

/* The registry code ("stale_context", "entity_claimed", …). Owned by the error. */
ABLO_C_EXPORT const char* ablo_error_code(const ablo_error* error);
ABLO_C_EXPORT const char* ablo_error_message(const ablo_error* error);
/* The TypeScript class name of ErrorKind ("AbloStaleContextError", …). */
ABLO_C_EXPORT const char* ablo_error_kind(const ablo_error* error);
/* 1 when retrying can help (registry flag), else 0. */
ABLO_C_EXPORT int ablo_error_retryable(const ablo_error* error);
/* The whole error as JSON {code, message, param?, kind, httpStatus, retryable, details}; caller frees. */
ABLO_C_EXPORT char* ablo_error_json(const ablo_error* error);
ABLO_C_EXPORT void ablo_error_free(ablo_error* error);

ABLO_C_EXPORT void ablo_string_free(char* text);

/* Library version "1.2.3" (static). */
ABLO_C_EXPORT const char* ablo_version(void);

/* ---- client -------------------------------------------------------------------------------- */

/* options_json: the fields of ablo::Options in snake_case:
 *   {"base_url","api_key","schema" (JSON v3 text or object),"store_path","on_bad_store":"recreate"|"fail",
 *    "participant_kind":"system"|"agent"|"user","sync_groups":[…],"default_on_stale":"reject"|"force"|"flag",
 *    "callbacks":"thread"|"manual"|"inline","timing":{"batch_delay_ms",…}}
 * Does not wait for the network. Errors: invalid_options, invalid_schema, db_not_opened. */
ABLO_C_EXPORT ablo_status ablo_client_new(const char* options_json, ablo_client** out_client, ablo_error** error);
/* Closes the client (see the C++ destructor): unsent writes stay in the store file. */
ABLO_C_EXPORT void ablo_client_free(ablo_client* client);

/* With "callbacks":"manual": runs up to max_tasks queued callbacks on this thread, waiting up to
 * timeout_ms (0 = no wait) for the first; returns how many ran. */
ABLO_C_EXPORT size_t ablo_client_run_pending(ablo_client* client, int64_t timeout_ms, size_t max_tasks);

/* Resolves (no value) when the replica is usable (Client::ready). */
ABLO_C_EXPORT ablo_pending* ablo_client_ready(ablo_client* client);
/* Resolves when the outbox is empty; timeout_ms < 0 = none. */
ABLO_C_EXPORT ablo_pending* ablo_client_wait_for_flush(ablo_client* client, int64_t timeout_ms);

/* ConnectionStatus as JSON {"state","cursor","pendingWrites","offlineSince"?,"lastError"?,"clockOffsetMs"}. */
ABLO_C_EXPORT char* ablo_client_status(ablo_client* client);
ABLO_C_EXPORT void ablo_client_set_auth_token(ablo_client* client, const char* token);
ABLO_C_EXPORT void ablo_client_reconnect_now(ablo_client* client);

/* ---- reads (replica only; never the network) ------------------------------------------------ */

/* Row JSON {"model","id","data":{…},"version","pending","archived"} into *out_row_json, or
 * *out_row_json = NULL when the replica has no such row (still ABLO_OK). */
ABLO_C_EXPORT ablo_status ablo_get(ablo_client* client, const char* model, const char* id, char** out_row_json, ablo_error** error);

/* query_json: {"where":[["status","=","todo"],["position",">",3],["tag","IN",["a","b"]]],
 *              "orderBy":[["position","asc"]],"limit":20,"offset":0,"scope":"live"|"archived"|"all",
 *              "includePending":true}
 * Operators as the 0.9.1 tuple form: = != < <= > >= IN "NOT IN" IS "IS NOT" LIKE "NOT LIKE" ILIKE "NOT ILIKE".
 * Result: a JSON array of rows. */
ABLO_C_EXPORT ablo_status ablo_list(ablo_client* client, const char* model, const char* query_json, char** out_rows_json,
                      ablo_error** error);

/* Network read for rows the replica lacks; resolves to a JSON array of rows. */
ABLO_C_EXPORT ablo_pending* ablo_fetch(ablo_client* client, const char* model, const char* query_json);

/* ---- writes (optimistic, durable outbox; resolve when confirmed) --------------------------- */

/* options_json (may be NULL): {"id" (create),"readAt","onStale","idempotencyKey","timeoutMs","undoScope"}.
 * Each resolves to the Receipt JSON {"transactionId","clientTxId","lastSyncId","row"?,"flaggedStale","replayed"}. */
ABLO_C_EXPORT ablo_pending* ablo_create(ablo_client* client, const char* model, const char* data_json, const char* options_json);
ABLO_C_EXPORT ablo_pending* ablo_update(ablo_client* client, const char* model, const char* id, const char* patch_json,
                          const char* options_json);
ABLO_C_EXPORT ablo_pending* ablo_remove(ablo_client* client, const char* model, const char* id, const char* options_json);
ABLO_C_EXPORT ablo_pending* ablo_archive(ablo_client* client, const char* model, const char* id, const char* options_json);
ABLO_C_EXPORT ablo_pending* ablo_unarchive(ablo_client* client, const char* model, const char* id, const char* options_json);
/* Commit lane: operations_json = [{"action":"create"|"update"|"delete"|"archive"|"unarchive","model","id","data","readAt","onStale"}]. */
ABLO_C_EXPORT ablo_pending* ablo_commit(ablo_client* client, const char* operations_json, const char* options_json);

/* ---- pending results ----------------------------------------------------------------------- */

/* Waits up to timeout_ms (< 0 = forever). ABLO_OK: *out_json = the result JSON ("null" for no
 * value; for a claim use ablo_pending_take_claim instead). ABLO_ERROR: *error set. ABLO_TIMEOUT:
 * not ready yet; the pending stays valid. Takes the result (single consumer). */
ABLO_C_EXPORT ablo_status ablo_pending_wait(ablo_pending* pending, int64_t timeout_ms, char** out_json, ablo_error** error);
/* 1 when ready. */
ABLO_C_EXPORT int ablo_pending_ready(const ablo_pending* pending);

/* Callback form: called once with result_json (NULL on error) or error (NULL on success); both
 * are borrowed for the call only. Takes the result; the pending may be freed right after. */
typedef void (*ablo_result_fn)(void* user_data, const char* result_json, const ablo_error* error);
ABLO_C_EXPORT void ablo_pending_then(ablo_pending* pending, ablo_result_fn callback, void* user_data);

/* For ablo_claim_acquire: waits like ablo_pending_wait and yields the claim handle. */
ABLO_C_EXPORT ablo_status ablo_pending_take_claim(ablo_pending* pending, int64_t timeout_ms, ablo_claim** out_claim,
                                    ablo_error** error);
/* Frees the handle; the operation goes on (its result is dropped). */
ABLO_C_EXPORT void ablo_pending_free(ablo_pending* pending);

/* ---- live queries and events --------------------------------------------------------------- */

/* update_json: {"rows":[…],"added":[ids],"removed":[ids],"changed":[ids],
 *               "cause":"initial"|"optimistic"|"confirmed"|"rolled_back"|"remote"|"rebootstrap"|"schema","cursor"}
 * (borrowed for the call). */
typedef void (*ablo_event_fn)(void* user_data, const char* event_json);

/* Live query: calls back at once and after every change of the result. Free the observer to stop.
 * NULL when an argument is NULL or query_json is invalid (there is no error channel). */
ABLO_C_EXPORT ablo_observer* ablo_observe(ablo_client* client, const char* model, const char* query_json, ablo_event_fn callback,
                            void* user_data);
/* Events: "status" (ConnectionStatus JSON), "mutation_failure" ({model,id,action,transactionId,error,rolledBack,replayed}),
 * "store" (StoreEvent JSON), "presence" (the others' roster as JSON). NULL for another event name. */
ABLO_C_EXPORT ablo_observer* ablo_subscribe(ablo_client* client, const char* event, ablo_event_fn callback, void* user_data);
/* Stops callbacks (none starts after it returns, unless called from inside that callback). */
ABLO_C_EXPORT void ablo_observer_free(ablo_observer* observer);

/* ---- claims -------------------------------------------------------------------------------- */

/* options_json: {"ttlMs","action","description","field","wait","maxQueueDepth","timeoutMs"}.
 * Take the result with ablo_pending_take_claim. */
ABLO_C_EXPORT ablo_pending* ablo_claim_acquire(ablo_client* client, const char* model, const char* id, const char* options_json);
/* The row at the grant (Row JSON); caller frees. */
ABLO_C_EXPORT char* ablo_claim_row(const ablo_claim* claim);
ABLO_C_EXPORT int64_t ablo_claim_read_at(const ablo_claim* claim);
ABLO_C_EXPORT int ablo_claim_held(const ablo_claim* claim);
/* Update under the claim (readAt = the grant's cursor, onStale reject); resolves to a Receipt. */
ABLO_C_EXPORT ablo_pending* ablo_claim_update(ablo_claim* claim, const char* patch_json, const char* options_json);
/* Called once with the claim_lost error if the lease is lost while held. */
ABLO_C_EXPORT void ablo_claim_on_lost(ablo_claim* claim, ablo_result_fn callback, void* user_data);
/* Releases (intent_abandon) and frees the handle. Never blocks. */
ABLO_C_EXPORT void ablo_claim_free(ablo_claim* claim);
/* Others' claim on a row as ClaimInfo JSON, or NULL when free. */
ABLO_C_EXPORT char* ablo_claim_state(ablo_client* client, const char* model, const char* id);

/* ---- presence ------------------------------------------------------------------------------ */

/* activity_json: {"model","id","action","field"?,"meta"?}; NULL clears the activity. */
ABLO_C_EXPORT void ablo_presence_set_activity(ablo_client* client, const char* activity_json);
/* The others' roster as a JSON array of Participant; caller frees. */
ABLO_C_EXPORT char* ablo_presence_others(ablo_client* client);

/* ---- undo / redo --------------------------------------------------------------------------- */

/* Creates the scope on first use (options_json may be NULL: {"maxHistory","conflictPolicy":
 * "skip-stale"|"last-writer-wins","recordAll","models":[…]}). Writes join it through their
 * "undoScope" option or an open group. */
ABLO_C_EXPORT ablo_status ablo_undo_scope(ablo_client* client, const char* scope, const char* options_json, ablo_error** error);
/* Groups writes recorded into the scope until ablo_undo_end_group (one entry). */
ABLO_C_EXPORT void ablo_undo_begin_group(ablo_client* client, const char* scope, const char* label);
ABLO_C_EXPORT void ablo_undo_end_group(ablo_client* client, const char* scope);
/* Resolve to UndoResult JSON {"label","applied","skippedFields":[…],"receipts":[…]}. */
ABLO_C_EXPORT ablo_pending* ablo_undo(ablo_client* client, const char* scope);
ABLO_C_EXPORT ablo_pending* ablo_redo(ablo_client* client, const char* scope);
ABLO_C_EXPORT int ablo_can_undo(ablo_client* client, const char* scope);
ABLO_C_EXPORT int ablo_can_redo(ablo_client* client, const char* scope);
ABLO_C_EXPORT void ablo_undo_clear(ablo_client* client, const char* scope);

#ifdef __cplusplus
}
#endif

#endif /* ABLO_C_H */
