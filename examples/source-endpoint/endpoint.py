#!/usr/bin/python3
"""Reference Data Source endpoint: the customer's side of Ablo's Data Source mode.

One POST route (default ``/api/ablo/source``) answers the four request kinds
of datasource.md §1: ``load``, ``list``, ``commit`` and ``events``, backed by
SQLite or PostgreSQL (store.py).  The request pipeline follows §1.4 exactly:

  1. method must be POST                      → 405 method_not_allowed
  2. body must parse as JSON (before auth!)   → 400 invalid_json
  3. signature (signature.py, §1.3)           → 401 {"error": code, "message": …}
  4. body must be an object                   → 400 invalid_body (the reference would 500)
  5. dispatch on "type"                       → 400 unknown_source_request

Other answers: 413 payload_too_large (bodies over 4 MiB), 400
source_request_invalid (unknown model/field, bad where/limit/cursor), 400
source_commit_requires_client_tx_id / source_commit_invalid, 409
entity_not_found / unique_violation / idempotency_conflict, 400
source_events_invalid_cursor.

``--test-controls`` adds unsigned routes for tests (loopback binds only):
``POST /_test/control`` injects faults, ``GET /_test/requests`` lists what the
endpoint saw.  ``endpoint.py push …`` signs and sends events to Ablo's push
route (§1.9).  Run ``endpoint.py --help`` / ``endpoint.py push --help``.

Python 3.11 standard library only, plus psycopg2 for the PostgreSQL backing.
"""

import argparse
import collections
import ipaddress
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import operations
import signature
from operations import SourceError
from schema import load_schema
from store import open_backing

MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_DRAINED_BYTES = 64 * 1024 * 1024  # an oversized body up to this size is read and dropped so the 413 arrives
DEFAULT_PATH = "/api/ablo/source"
REQUEST_LOG_SIZE = 200


# --- test controls -----------------------------------------------------------------------

class TestControls:
    """Fault injection for tests; every setting holds until ``{}`` resets it (counters count down)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = collections.deque(maxlen=REQUEST_LOG_SIZE)
        self.reset()

    def reset(self):
        with self.lock:
            self.fail_next = 0
            self.fail_status = 503
            self.delay_ms = 0
            self.commit_then_fail = 0
            self.rows_mode = None
            self.duplicate_events = False
            self.wrong_key = False

    def configure(self, settings):
        if not isinstance(settings, dict):
            raise SourceError(400, "invalid_control", "control body must be a JSON object")
        if not settings:
            self.reset()
            return
        with self.lock:
            self.fail_next = int(settings.get("failNext", self.fail_next))
            self.fail_status = int(settings.get("failStatus", self.fail_status))
            self.delay_ms = int(settings.get("delayMs", self.delay_ms))
            self.commit_then_fail = int(settings.get("commitThenFail", self.commit_then_fail))
            self.rows_mode = settings.get("rowsMode", self.rows_mode)
            self.duplicate_events = bool(settings.get("duplicateEvents", self.duplicate_events))
            self.wrong_key = bool(settings.get("wrongKey", self.wrong_key))
        if self.rows_mode not in (None, "wrongId", "unknownField", "fewerRows"):
            raise SourceError(400, "invalid_control", f"unknown rowsMode {self.rows_mode!r}")

    def take(self, counter):
        """True (and one fewer left) when the named countdown is still running."""
        with self.lock:
            left = getattr(self, counter)
            if left > 0:
                setattr(self, counter, left - 1)
                return True
            return False

    def record(self, entry):
        with self.lock:
            self.requests.append(entry)

    def recorded(self):
        with self.lock:
            return list(self.requests)


def mangle_rows(rows, mode):
    """What rowsMode makes a commit answer (after the batch was applied and committed truthfully)."""
    if mode == "wrongId":
        return [dict(row, id=str(row.get("id")) + "_wrong") for row in rows]
    if mode == "unknownField":
        return [dict(row, notInSchema=True) for row in rows]
    if mode == "fewerRows":
        return rows[:-1]
    return rows


def reject_non_json_constant(name):
    """Python's json accepts NaN and Infinity; JSON does not, and they could not be answered back."""
    raise ValueError(f"{name} is not JSON")


# --- the source route ----------------------------------------------------------------------

class SourceApp:
    """Everything behind the route, independent of the HTTP plumbing."""

    def __init__(self, key, models, backing, controls=None):
        self.key = key
        self.models = models
        self.backing = backing
        self.controls = controls

    def verification_key(self):
        if self.controls and self.controls.wrong_key:
            return self.key + "_wrong"
        return self.key

    def handle(self, headers, raw_body, record):
        """``(status, body)`` for one POST to the source route; ``record`` collects the request log entry."""
        try:
            body = json.loads(raw_body.decode("utf-8"), parse_constant=reject_non_json_constant)
        except (UnicodeDecodeError, ValueError):
            return 400, {"error": "invalid_json"}
        if isinstance(body, dict):
            record["type"] = body.get("type")
            if isinstance(body.get("clientTxId"), str):
                record["clientTxId"] = body["clientTxId"]
        if not self.key:
            return 401, {"error": "source_api_key_missing", "message": "no API key configured"}
        try:
            signature.verify(headers, raw_body, self.verification_key())
        except signature.SignatureError as error:
            return 401, {"error": error.code, "message": error.message}
        if not isinstance(body, dict):
            return 400, {"error": "invalid_body", "message": "the request body must be a JSON object"}
        if self.controls and self.controls.take("fail_next"):
            return self.controls.fail_status, {"error": "test_injected_failure"}
        try:
            return 200, self.dispatch(body)
        except SourceError as error:
            return error.status, error.body

    def dispatch(self, body):
        kind = body.get("type")
        if kind == "load":
            return self.load(body)
        if kind == "list":
            return self.list(body)
        if kind == "commit":
            return self.commit(body)
        if kind == "events":
            return self.events(body)
        raise SourceError(400, "unknown_source_request", f"unknown request type {kind!r}")

    def load(self, body):
        model = operations.require_model(self.models, body)
        row_id = body.get("id")
        if not isinstance(row_id, str) or not row_id:
            raise operations.invalid_request("load requires a non-empty id")
        return {"row": self.backing.load(model, row_id)}

    def list(self, body):
        model = operations.require_model(self.models, body)
        rows, next_cursor = self.backing.list(model, operations.parse_list_query(model, body.get("query")))
        response = {"rows": rows}
        if next_cursor is not None:
            response["nextCursor"] = next_cursor
        return response

    def commit(self, body):
        client_tx_id, parsed = operations.parse_change_set(self.models, body)
        rows = self.backing.commit(client_tx_id, parsed)
        if self.controls:
            if self.controls.take("commit_then_fail"):
                raise SourceError(503, "test_commit_then_fail", "the commit was applied; this answer is lost on purpose")
            rows = mangle_rows(rows, self.controls.rows_mode)
        return {"rows": rows}

    def events(self, body):
        after, limit = operations.parse_events_request(body)
        events, next_cursor = self.backing.events(after, limit)
        if self.controls and self.controls.duplicate_events:
            events = [event for event in events for _ in (0, 1)]
        response = {"events": events}
        if next_cursor is not None:
            response["nextCursor"] = next_cursor
        return response


# --- HTTP plumbing -----------------------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: Ablo's client reuses connections
    server_version = "AbloSourceEndpoint/1"

    def log_message(self, format, *args):
        if self.server.verbose:
            super().log_message(format, *args)

    def send_json(self, status, body):
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def read_body(self):
        """The raw body, or None after answering 413 (the connection is closed then)."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self.read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.refuse_oversized(length)
            return None
        return self.rfile.read(length)

    def refuse_oversized(self, length):
        # A client still writing its body would see a broken pipe instead of the answer, so drain first.
        remaining = length if length <= MAX_DRAINED_BYTES else 0
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 1 << 16))
            if not chunk:
                break
            remaining -= len(chunk)
        self.close_connection = True
        self.send_json(413, {"error": "payload_too_large", "message": f"bodies are limited to {MAX_BODY_BYTES} bytes"})

    def read_chunked(self):
        parts, total = [], 0
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline().strip():
                    pass  # trailers
                return b"".join(parts)
            total += size
            if total > MAX_BODY_BYTES:
                self.close_connection = True
                self.send_json(413, {"error": "payload_too_large", "message": f"bodies are limited to {MAX_BODY_BYTES} bytes"})
                return None
            parts.append(self.rfile.read(size))
            self.rfile.readline()

    def route(self):
        return self.path.split("?", 1)[0]

    def do_POST(self):
        raw_body = self.read_body()
        if raw_body is None:
            return
        if self.route() == self.server.source_path:
            self.answer_source(raw_body)
        elif self.route() == "/_test/control" and self.server.controls:
            self.answer_control(raw_body)
        else:
            self.send_json(404, {"error": "not_found"})

    def do_GET(self):
        if self.route() == "/_test/requests" and self.server.controls:
            self.send_json(200, {"requests": self.server.controls.recorded()})
        else:
            self.refuse_method()

    def refuse_method(self):
        if self.route() == self.server.source_path:
            self.send_json(405, {"error": "method_not_allowed"})
        else:
            self.send_json(404, {"error": "not_found"})

    do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = refuse_method

    def answer_source(self, raw_body):
        record = {"type": None, "webhookId": self.headers.get("webhook-id"),
                  "timestamp": self.headers.get("webhook-timestamp")}
        try:
            status, body = self.server.app.handle(self.headers, raw_body, record)
        except Exception as error:  # a backing failure: log it, answer like a framework would
            print(f"source request failed: {error!r}", file=sys.stderr, flush=True)
            status, body = 500, {"error": "internal_error", "message": str(error)}
        controls = self.server.controls
        if controls:
            record["status"] = status
            controls.record(record)
            if controls.delay_ms > 0:
                time.sleep(controls.delay_ms / 1000)
        self.send_json(status, body)

    def answer_control(self, raw_body):
        try:
            self.server.controls.configure(json.loads(raw_body or b"{}"))
        except ValueError:
            self.send_json(400, {"error": "invalid_json"})
            return
        except SourceError as error:
            self.send_json(error.status, error.body)
            return
        self.send_json(200, {"ok": True})


class EndpointServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, app, source_path, controls, verbose=False):
        self.app = app
        self.source_path = source_path
        self.controls = controls
        self.verbose = verbose
        host = address[0]
        if ":" in host:
            import socket
            self.address_family = socket.AF_INET6
        super().__init__(address, Handler)


# --- CLI -----------------------------------------------------------------------------------------

def key_from_dotenv(path=".env"):
    """ABLO_API_KEY from a .env file in the working directory (``KEY=value`` lines, optional quotes/export)."""
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    for line in lines:
        line = line.strip()
        if line.startswith("export "):
            line = line[len("export "):].strip()
        name, equals, value = line.partition("=")
        if equals and name.strip() == "ABLO_API_KEY":
            return value.strip().strip("'\"") or None
    return None


def resolve_key(explicit):
    return explicit or os.environ.get("ABLO_API_KEY") or key_from_dotenv()


def is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve_arguments(argv):
    parser = argparse.ArgumentParser(prog="endpoint.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--key", help="the sk_ API key (default: $ABLO_API_KEY, then ABLO_API_KEY in ./.env)")
    parser.add_argument("--schema", required=True, help="schema JSON v3 (what `ablo schema push` uploads)")
    parser.add_argument("--database", required=True, help="sqlite:PATH or postgres://URL")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100, help="0 picks a free port")
    parser.add_argument("--path", default=DEFAULT_PATH, help=f"the route (default {DEFAULT_PATH})")
    parser.add_argument("--test-controls", action="store_true", help="enable /_test/* routes (loopback only)")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return parser.parse_args(argv)


def serve(argv):
    args = serve_arguments(argv)
    key = resolve_key(args.key)
    if not key:
        sys.exit("endpoint.py: no API key: pass --key, set ABLO_API_KEY, or put ABLO_API_KEY= in ./.env")
    if args.test_controls and not is_loopback(args.host):
        sys.exit("endpoint.py: --test-controls is refused unless --host is a loopback address")
    models = load_schema(args.schema)
    backing = open_backing(models, args.database)
    backing.setup()
    controls = TestControls() if args.test_controls else None
    server = EndpointServer((args.host, args.port), SourceApp(key, models, backing, controls),
                            args.path, controls, args.verbose)
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"listening on http://{host}:{server.server_address[1]}{args.path}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def push(argv):
    """Signs ``{"events": […]}`` like the SDK's push queue (§1.9) and sends it once."""
    parser = argparse.ArgumentParser(prog="endpoint.py push", description=push.__doc__)
    parser.add_argument("--url", required=True, help="Ablo's push route, e.g. http://127.0.0.1:8787/api/source/events")
    parser.add_argument("--key", help="the sk_ API key (default: $ABLO_API_KEY, then ./.env)")
    parser.add_argument("--events-json", required=True, help="a JSON array of events")
    parser.add_argument("--id", help="webhook-id and Idempotency-Key (default: a fresh id; reuse it to retry)")
    args = parser.parse_args(argv)
    key = resolve_key(args.key)
    if not key:
        sys.exit("endpoint.py push: no API key")
    events = json.loads(args.events_json)
    if not isinstance(events, list):
        sys.exit("endpoint.py push: --events-json must be a JSON array")
    message_id = args.id or f"q_{uuid.uuid4().hex}"
    body = json.dumps({"events": events}, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json", "Idempotency-Key": message_id,
               **signature.signed_headers(key, message_id, body)}
    request = urllib.request.Request(args.url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, text = response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read().decode("utf-8", "replace")
    print(status)
    print(text)
    return 0 if 200 <= status < 300 else 1


def main(argv):
    if argv and argv[0] == "push":
        return push(argv[1:])
    serve(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
