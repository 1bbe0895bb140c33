"""Tests of the reference Data Source endpoint (datasource.md §1.3–§1.9, §2, §3.5–§3.7, §7 items 1–33).

Run from this folder: ``/usr/bin/python3 -m unittest -v test_endpoint``.  The
SQLite classes always run; the PostgreSQL classes run when
``ABLO_TEST_DATABASE_URL`` names a server (each class creates and drops its
own database), e.g. via ``/work/main/scripts/with-postgres.sh``.

Each backing class starts one endpoint process (the real CLI) on a fresh
database and empties the tables before every test, so every test starts
from an empty feed.  External writers are the ``sqlite3`` / ``psql`` command
line tools when installed (else the Python drivers), exactly like a cron job.
"""

import base64
import glob
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import signature
from signature import SignatureError, sign, verify

HERE = os.path.dirname(os.path.abspath(__file__))
ENDPOINT = os.path.join(HERE, "endpoint.py")
SCHEMA = os.path.join(HERE, "schema.example.json")
PYTHON = "/usr/bin/python3"
KEY = "sk_test_endpoint_tests_key"
GOLDEN_KEY = "sk_test_example_key_do_not_use_in_prod"
PG_URL = os.environ.get("ABLO_TEST_DATABASE_URL")


# --- helpers -------------------------------------------------------------------------------

class CaseInsensitive(dict):
    """Header mapping for direct verify() calls (the HTTP server's headers are case-insensitive too)."""

    def __init__(self, items):
        super().__init__({k.lower(): v for k, v in items.items()})

    def get(self, name, default=None):
        return super().get(name.lower(), default)


def golden_headers(message_id, timestamp, body, key=GOLDEN_KEY):
    return CaseInsensitive({"webhook-id": message_id, "webhook-timestamp": str(timestamp),
                            "webhook-signature": sign(key, message_id, timestamp, body)})


class EndpointProcess:
    """The endpoint CLI on a free port; ``url`` is its source route."""

    def __init__(self, database, extra_args=(), cwd=HERE, env=None, key=KEY):
        args = [PYTHON, ENDPOINT, "--schema", SCHEMA, "--database", database, "--port", "0", *extra_args]
        if key:
            args += ["--key", key]
        self.process = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.process.stdout.readline().strip()
        if not line.startswith("listening on "):
            self.stop()
            raise RuntimeError(f"endpoint did not start: {line!r} {self.process.stderr.read()}")
        self.url = line[len("listening on "):]
        self.base = self.url.rsplit("/api/", 1)[0]

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            stream.close()


def http(url, body=None, headers=None, method="POST", timeout=30):
    """``(status, parsed JSON body)``; ``body`` bytes are sent verbatim."""
    request = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def signed_post(url, body, key=KEY, message_id=None, timestamp=None, header_case=str.lower):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
    headers = signature.signed_headers(key, message_id or f"msg_{uuid.uuid4().hex}", raw, timestamp)
    headers = {header_case(name): value for name, value in headers.items()}
    headers["Content-Type"] = "application/json"
    return http(url, raw, headers)


def create(model, row_id, **values):
    return {"type": "CREATE", "model": model, "id": row_id, "input": values}


# --- signatures (no server) -------------------------------------------------------------------

class SignatureTest(unittest.TestCase):
    LOAD_BODY = '{"type":"load","model":"tasks","id":"task_seed"}'

    def test_golden_vector_1_load(self):
        self.assertEqual(sign(GOLDEN_KEY, "msg_1", 1700000000, self.LOAD_BODY),
                         "v1,dOZ8WZ7sLIFjYZoPBI7QwkV91A/AhlRPs4ocSBEqZys=")

    def test_golden_vector_2_events(self):
        self.assertEqual(sign(GOLDEN_KEY, "msg_2", 1700000300, '{"type":"events","cursor":"2","limit":100}'),
                         "v1,Jxxpm2uCaGYFIydycj8guuHNRIQvGVTmMtHAokjEgJY=")

    def test_golden_vector_3_utf8_body_is_signed_as_bytes(self):
        body = ('{"type":"commit","clientTxId":"tx_1","operations":[{"type":"CREATE","model":"tasks",'
                '"id":"t1","input":{"title":"Zoë ✓"}}]}')
        expected = "v1,boT9xa0cIWNsFeB7GZH+KxkqaPBNtqicE8EC2eJufg8="
        self.assertEqual(sign(GOLDEN_KEY, "msg_3", 1700000000, body), expected)
        self.assertEqual(sign(GOLDEN_KEY, "msg_3", 1700000000, body.encode("utf-8")), expected)
        # Escaping the non-ASCII characters is a different byte string and must not verify.
        escaped = json.dumps(json.loads(body), separators=(",", ":"))
        self.assertNotEqual(escaped, body)
        self.assertNotEqual(sign(GOLDEN_KEY, "msg_3", 1700000000, escaped), expected)

    def verify_at(self, now, tolerance_ms=signature.DEFAULT_TOLERANCE_MS, headers=None, body=None):
        body = self.LOAD_BODY if body is None else body
        headers = headers or golden_headers("msg_1", 1700000000, body)
        return verify(headers, body.encode("utf-8"), GOLDEN_KEY, now=now, tolerance_ms=tolerance_ms)

    def assert_code(self, code, **kwargs):
        with self.assertRaises(SignatureError) as caught:
            self.verify_at(kwargs.pop("now", 1700000000), **kwargs)
        self.assertEqual(caught.exception.code, code)

    def test_tolerance_is_300_seconds_both_ways(self):
        self.assertEqual(self.verify_at(1700000300), ("msg_1", 1700000000))
        self.assertEqual(self.verify_at(1699999700), ("msg_1", 1700000000))
        self.assert_code("source_timestamp_expired", now=1700000301)
        self.assert_code("source_timestamp_expired", now=1699999699)

    def test_custom_tolerance_rounds_up_to_whole_seconds(self):
        self.verify_at(1700000002, tolerance_ms=1500)
        self.assert_code("source_timestamp_expired", now=1700000003, tolerance_ms=1500)

    def test_missing_id_wins_over_every_other_problem(self):
        self.assert_code("source_id_missing", headers=CaseInsensitive({"webhook-timestamp": "abc"}))
        self.assert_code("source_id_missing", headers=CaseInsensitive({"webhook-id": ""}))

    def test_missing_or_empty_timestamp(self):
        self.assert_code("source_timestamp_missing", headers=CaseInsensitive({"webhook-id": "m"}))
        self.assert_code("source_timestamp_missing",
                         headers=CaseInsensitive({"webhook-id": "m", "webhook-timestamp": "", "webhook-signature": "v1,x"}))

    def test_timestamp_must_be_decimal_digits(self):
        for text in ("abc", "1.7e9", " 1700000000", "1700000000.0", "-1", "0x6553F100"):
            headers = golden_headers("msg_1", 1700000000, self.LOAD_BODY)
            headers["webhook-timestamp"] = text
            with self.subTest(text=text):
                self.assert_code("source_timestamp_invalid", headers=headers)

    def test_expired_timestamp_is_reported_before_a_missing_signature(self):
        headers = CaseInsensitive({"webhook-id": "m", "webhook-timestamp": "1600000000"})
        self.assert_code("source_timestamp_expired", headers=headers)

    def test_no_usable_v1_value_is_a_missing_signature(self):
        for header in ("v2,xyz", "v1,", "v1", "", "v1xyz v2,abc"):
            headers = golden_headers("msg_1", 1700000000, self.LOAD_BODY)
            headers["webhook-signature"] = header
            with self.subTest(header=header):
                self.assert_code("source_signature_missing", headers=headers)

    def test_any_matching_v1_value_is_accepted_for_key_rotation(self):
        headers = golden_headers("msg_1", 1700000000, self.LOAD_BODY)
        correct = headers["webhook-signature"]
        headers["webhook-signature"] = f"v1,AAAA  v2,zzz {correct}"
        self.assertEqual(self.verify_at(1700000000, headers=headers), ("msg_1", 1700000000))

    def test_one_flipped_character_is_invalid(self):
        headers = golden_headers("msg_1", 1700000000, self.LOAD_BODY)
        value = headers["webhook-signature"]
        headers["webhook-signature"] = value[:-2] + ("A" if value[-2] != "A" else "B") + value[-1]
        self.assert_code("source_signature_invalid", headers=headers)

    def test_body_changed_after_signing_is_invalid(self):
        headers = golden_headers("msg_1", 1700000000, self.LOAD_BODY)
        respaced = json.dumps(json.loads(self.LOAD_BODY))  # same JSON, spaces added
        with self.assertRaises(SignatureError) as caught:
            verify(headers, respaced.encode(), GOLDEN_KEY, now=1700000000)
        self.assertEqual(caught.exception.code, "source_signature_invalid")

    def test_wrong_key_is_invalid(self):
        headers = golden_headers("msg_1", 1700000000, self.LOAD_BODY, key="sk_test_other")
        self.assert_code("source_signature_invalid", headers=headers)

    def test_standard_webhooks_secret_is_not_a_data_source_key(self):
        secret, message_id, timestamp = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330
        body = '{"test": 2432232314}'
        expected = "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        # The webhook (§4) convention: key = base64-decoded tail of the secret.
        webhook_key = base64.b64decode(secret[len("whsec_"):])
        mac = hmac.new(webhook_key, f"{message_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
        self.assertEqual(base64.b64encode(mac).decode(), expected)
        # The Data Source convention uses the key text raw, so the same header does not verify.
        headers = CaseInsensitive({"webhook-id": message_id, "webhook-timestamp": str(timestamp),
                                   "webhook-signature": "v1," + expected})
        with self.assertRaises(SignatureError) as caught:
            verify(headers, body.encode(), secret, now=timestamp)
        self.assertEqual(caught.exception.code, "source_signature_invalid")


# --- backings -----------------------------------------------------------------------------

MODEL_TABLES = ("task", "tasks", "weather_reports", "weatherAlerts")


class SqliteDatabase:
    """A fresh SQLite file; external writes go through the sqlite3 CLI when it is installed."""

    name = "sqlite"

    def __init__(self):
        self.directory = tempfile.mkdtemp(prefix="ablo-src-")
        self.path = os.path.join(self.directory, "endpoint.db")
        self.url = "sqlite:" + self.path

    def external(self, sql):
        """Runs SQL as an outside program would (one transaction), returns rows as tuples."""
        cli = shutil.which("sqlite3")
        if cli:
            done = subprocess.run([cli, "-json", self.path, sql], capture_output=True, text=True, check=True)
            return [tuple(row.values()) for row in json.loads(done.stdout or "[]")]
        import sqlite3
        with sqlite3.connect(self.path) as conn:
            rows = []
            for statement in filter(str.strip, sql.split(";")):
                rows = conn.execute(statement).fetchall()
            return rows

    def query(self, sql):
        import sqlite3
        conn = sqlite3.connect(self.path)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()

    def reset(self):
        import sqlite3
        conn = sqlite3.connect(self.path)
        try:
            for table in MODEL_TABLES:  # deleting fires the triggers; the outbox is emptied after
                conn.execute(f'DELETE FROM "{table}"')
            conn.execute("DELETE FROM ablo_outbox")
            conn.execute("DELETE FROM ablo_idempotency")
            conn.commit()
        finally:
            conn.close()

    def drop(self):
        shutil.rmtree(self.directory, ignore_errors=True)


class PostgresDatabase:
    """A database of its own on the test server; external writes go through psql when installed."""

    name = "postgres"

    def __init__(self):
        import psycopg2
        self.psycopg2 = psycopg2
        self.database = f"src_{uuid.uuid4().hex[:12]}"
        self.admin(f'CREATE DATABASE "{self.database}"')
        parts = urllib.parse.urlsplit(PG_URL)
        self.url = urllib.parse.urlunsplit(parts._replace(path="/" + self.database))

    def admin(self, sql):
        conn = self.psycopg2.connect(PG_URL)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
        finally:
            conn.close()

    def psql(self):
        found = shutil.which("psql") or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/psql"))), None)
        return found

    def external(self, sql):
        cli = self.psql()
        if cli:
            done = subprocess.run([cli, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-1", "-c", sql, self.url],
                                  capture_output=True, text=True, check=True)
            return [tuple(line.split("|")) for line in done.stdout.splitlines() if line]
        conn = self.psycopg2.connect(self.url)
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                rows = cur.fetchall() if cur.description else []
            conn.commit()
            return rows
        finally:
            conn.close()

    def query(self, sql):
        conn = self.psycopg2.connect(self.url)
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                return cur.fetchall()
        finally:
            conn.close()

    def reset(self):
        tables = ", ".join(f'"{t}"' for t in MODEL_TABLES)
        self.query_commit(f"TRUNCATE {tables}, ablo_outbox, ablo_idempotency")  # TRUNCATE fires no row triggers

    def query_commit(self, sql):
        conn = self.psycopg2.connect(self.url)
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
            conn.commit()
        finally:
            conn.close()

    def drop(self):
        self.admin(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')


class EndpointCase(unittest.TestCase):
    """One endpoint process (with test controls) per class on a fresh database of ``database_class``."""

    database_class = SqliteDatabase

    @classmethod
    def setUpClass(cls):
        cls.db = cls.database_class()
        try:
            cls.endpoint = EndpointProcess(cls.db.url, ["--test-controls"])
        except Exception:
            cls.db.drop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.endpoint.stop()
        cls.db.drop()

    def setUp(self):
        self.db.reset()
        self.control({})

    def control(self, settings):
        status, body = http(self.endpoint.base + "/_test/control", json.dumps(settings).encode(),
                            {"Content-Type": "application/json"})
        self.assertEqual((status, body), (200, {"ok": True}))

    def call(self, body, **kwargs):
        return signed_post(self.endpoint.url, body, **kwargs)

    def ok(self, body):
        status, answer = self.call(body)
        self.assertEqual(status, 200, answer)
        return answer

    def commit(self, client_tx_id, *operations):
        return self.ok({"type": "commit", "clientTxId": client_tx_id, "operations": list(operations)})["rows"]

    def load(self, model, row_id):
        return self.ok({"type": "load", "model": model, "id": row_id})["row"]

    def list(self, model, **query):
        return self.ok({"type": "list", "model": model, "query": query})

    def events(self, cursor=None, limit=None):
        body = {"type": "events"}
        if cursor is not None:
            body["cursor"] = cursor
        if limit is not None:
            body["limit"] = limit
        return self.ok(body)

    def all_events(self):
        return self.events(limit=1000)["events"]

    def assert_error(self, body, status, error):
        got_status, answer = self.call(body)
        self.assertEqual((got_status, answer.get("error")), (status, error), answer)
        return answer


class BackingContract:
    """Adapter-level behaviour, run against every backing (§2 C1–C7, §7 items 26–33, triggers)."""

    # C1–C7 -------------------------------------------------------------------------------
    def test_c1_commit_applies_a_create_and_returns_the_canonical_row(self):
        rows = self.commit("tx_create", create("task", "t1", title="A"))
        self.assertEqual(len(rows), 1)
        self.assertEqual((rows[0]["id"], rows[0]["title"]), ("t1", "A"))
        self.assertIsNone(rows[0]["archivedAt"])
        self.assertRegex(rows[0]["createdAt"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

    def test_c2_load_returns_a_committed_row_and_null_for_an_unknown_id(self):
        self.commit("tx1", create("task", "t1", title="A"))
        self.assertEqual(self.load("task", "t1")["title"], "A")
        self.assertEqual(self.call({"type": "load", "model": "task", "id": "nope"}), (200, {"row": None}))

    def test_c3_list_returns_committed_rows(self):
        self.commit("tx_list", create("task", "t1", title="A"), create("task", "t2", title="B"))
        answer = self.list("task")
        self.assertEqual(sorted(row["id"] for row in answer["rows"]), ["t1", "t2"])
        self.assertNotIn("nextCursor", answer)

    def test_c4_duplicate_client_tx_id_is_applied_once_and_replays_the_same_rows(self):
        first = self.commit("tx_dup", create("task", "t1", title="A", n=1))
        second = self.commit("tx_dup", create("task", "t1", title="A", n=1))
        self.assertEqual(second, first)
        self.assertEqual(len(self.list("task")["rows"]), 1)
        events = self.all_events()
        self.assertEqual([e["clientTxId"] for e in events], ["tx_dup"])

    def test_c5_commit_appends_outbox_events_with_the_client_tx_id(self):
        self.commit("tx_evt", create("task", "t1", title="A"))
        event = next(e for e in self.all_events() if e["entityId"] == "t1")
        self.assertEqual((event["model"], event["type"], event["clientTxId"]), ("task", "CREATE", "tx_evt"))

    def test_c6_events_cursor_advances_and_never_redelivers(self):
        self.commit("tx_a", create("task", "t1"))
        self.commit("tx_b", create("task", "t2"))
        first = self.events(limit=1)
        self.assertEqual(len(first["events"]), 1)
        self.assertTrue(first["nextCursor"])
        second = self.events(first["nextCursor"], 100)
        self.assertTrue(second["events"])
        self.assertFalse({e["id"] for e in first["events"]} & {e["id"] for e in second["events"]})
        third = self.events(second.get("nextCursor") or first["nextCursor"], 100)
        self.assertEqual(third, {"events": []})

    def test_c7_a_later_update_under_a_new_client_tx_id_is_applied(self):
        self.commit("tx_c1", create("task", "t1", title="A"))
        self.commit("tx_u1", {"type": "UPDATE", "model": "task", "id": "t1", "input": {"title": "B"}})
        self.assertEqual(self.load("task", "t1")["title"], "B")

    # idempotency ------------------------------------------------------------------------
    def test_same_client_tx_id_with_different_operations_is_a_conflict_and_applies_nothing(self):
        self.commit("tx_same", create("task", "t1", title="A"))
        answer = self.assert_error({"type": "commit", "clientTxId": "tx_same",
                                    "operations": [create("task", "t2", title="B")]}, 409, "idempotency_conflict")
        self.assertIn("tx_same", answer["message"])
        self.assertIsNone(self.load("task", "t2"))
        self.assertEqual(len(self.all_events()), 1)

    def test_concurrent_identical_commits_apply_once_and_answer_alike(self):
        body = {"type": "commit", "clientTxId": "tx_race",
                "operations": [create("task", "r1", title="A"),
                               {"type": "UPDATE", "model": "task", "id": "r1", "input": {"n": 2}}]}
        barrier, answers = threading.Barrier(6), []

        def send():
            barrier.wait()
            answers.append(self.call(body))

        threads = [threading.Thread(target=send) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual([status for status, _ in answers], [200] * 6, answers)
        self.assertEqual(len({json.dumps(answer, sort_keys=True) for _, answer in answers}), 1)
        self.assertEqual(len(self.list("task")["rows"]), 1)
        self.assertEqual([e["id"] for e in self.all_events()], ["tx_race:0", "tx_race:1"])

    # atomicity and errors ----------------------------------------------------------------
    def test_a_failing_operation_rolls_back_the_whole_batch(self):
        batch = [create("task", "a1", title="A"),
                 {"type": "UPDATE", "model": "task", "id": "missing", "input": {"title": "x"}},
                 create("task", "a3", title="C")]
        answer = self.assert_error({"type": "commit", "clientTxId": "tx_atomic", "operations": batch},
                                   409, "entity_not_found")
        self.assertEqual((answer["model"], answer["id"], answer["index"]), ("task", "missing", 1))
        self.assertEqual(self.list("task")["rows"], [])
        self.assertEqual(self.all_events(), [])
        self.assertEqual(self.db.query("SELECT count(*) FROM ablo_idempotency"), [(0,)])
        # Once the data is there the same clientTxId applies cleanly (nothing was recorded).
        self.commit("tx_seed", create("task", "missing", title="seed"))
        rows = self.commit("tx_atomic", *batch)
        self.assertEqual([row["id"] for row in rows], ["a1", "missing", "a3"])

    def test_operations_on_missing_rows_are_entity_not_found(self):
        for kind in ("UPDATE", "ARCHIVE", "UNARCHIVE", "DELETE"):
            with self.subTest(kind=kind):
                self.assert_error({"type": "commit", "clientTxId": f"tx_missing_{kind}",
                                   "operations": [{"type": kind, "model": "task", "id": "ghost"}]},
                                  409, "entity_not_found")
        self.assertEqual(self.all_events(), [])

    def test_create_of_an_existing_id_is_a_unique_violation(self):
        self.commit("tx_first", create("task", "t1", title="A"))
        self.assert_error({"type": "commit", "clientTxId": "tx_again", "operations": [create("task", "t1")]},
                          409, "unique_violation")
        self.assertEqual(self.load("task", "t1")["title"], "A")
        self.assertEqual(len(self.all_events()), 1)

    def test_unknown_fields_and_wrong_types_are_named_in_source_commit_invalid(self):
        cases = [({"nope": 1}, "nope"), ({"title": 5}, "title"), ({"done": "yes"}, "done"),
                 ({"position": "3"}, "position"), ({"status": "later"}, "status"), ({"dueAt": "soon"}, "dueAt"),
                 ({"title": None}, "title")]
        for values, name in cases:
            with self.subTest(values=values):
                answer = self.assert_error({"type": "commit", "clientTxId": f"tx_bad_{name}",
                                            "operations": [create("tasks", "bad", **values)]},
                                           400, "source_commit_invalid")
                self.assertIn(name, answer["message"])
        self.assertIsNone(self.load("tasks", "bad"))

    def test_ablo_owned_base_fields_are_accepted_in_input(self):
        row = self.commit("tx_base", create("task", "b1", title="A", createdBy="user_1",
                                            createdAt="2025-05-05T05:05:05Z", updatedAt=1700000000000))[0]
        self.assertEqual((row["createdBy"], row["createdAt"], row["updatedAt"]),
                         ("user_1", "2025-05-05T05:05:05.000Z", "2023-11-14T22:13:20.000Z"))
        updated = self.commit("tx_base2", {"type": "UPDATE", "model": "task", "id": "b1", "input": {"title": "B"}})[0]
        self.assertGreater(updated["updatedAt"], row["updatedAt"])  # defaulted to now
        self.assertEqual(updated["createdAt"], row["createdAt"])

    # types and outbox shape ------------------------------------------------------------------
    def test_rows_leave_field_keyed_with_json_types(self):
        rows = self.commit("tx_types", create("tasks", "k1", title="T", projectId="p1", position=3, done=False,
                                              dueAt="2026-01-02T03:04:05Z", status="todo",
                                              meta={"tags": ["a"], "n": 1.5}, externalRef="E-1",
                                              organizationId="org_1"))
        row = rows[0]
        expected = {"id": "k1", "title": "T", "projectId": "p1", "position": 3, "done": False,
                    "dueAt": "2026-01-02T03:04:05.000Z", "status": "todo", "meta": {"tags": ["a"], "n": 1.5},
                    "externalRef": "E-1", "organizationId": "org_1", "archivedAt": None}
        self.assertEqual({k: row[k] for k in expected}, expected)
        self.assertEqual(self.load("tasks", "k1"), row)
        event = self.all_events()[0]
        self.assertEqual(event["data"], row)
        self.assertEqual(event["organizationId"], "org_1")
        # The explicit column override and camelToSnake decide the physical names.
        self.assertEqual(self.db.query("SELECT ext_ref, project_id FROM tasks WHERE id = 'k1'"), [("E-1", "p1")])

    def test_camel_case_table_names_and_a_custom_tenancy_column(self):
        row = self.commit("tx_alert", create("weatherAlerts", "w1", level="high", tags=["storm"],
                                             organizationId="org_5"))[0]
        self.assertEqual((row["level"], row["tags"], row["organizationId"]), ("high", ["storm"], "org_5"))
        self.db.external('UPDATE "weatherAlerts" SET level = \'low\' WHERE id = \'w1\'')
        events = self.all_events()
        self.assertEqual([(e["id"].split(":")[0], e["type"], e["organizationId"]) for e in events],
                         [("tx_alert", "CREATE", "org_5"), ("ext", "UPDATE", "org_5")])
        self.assertEqual(events[1]["data"]["level"], "low")
        self.assertEqual(self.db.query('SELECT tenant_id FROM "weatherAlerts"'), [("org_5",)])
        # Control-plane models are not the customer's tables.
        self.assert_error({"type": "load", "model": "auditSettings", "id": "x"}, 400, "source_request_invalid")

    def test_outbox_ids_delete_data_and_archive_flags(self):
        self.commit("tx_9", create("task", "t1", title="A"), create("task", "t2", title="B"))
        archived = self.commit("tx_arch", {"type": "ARCHIVE", "model": "task", "id": "t1"})[0]
        self.assertIsNotNone(archived["archivedAt"])
        unarchived = self.commit("tx_unarch", {"type": "UNARCHIVE", "model": "task", "id": "t1"})[0]
        self.assertIsNone(unarchived["archivedAt"])
        deleted = self.commit("tx_del", {"type": "DELETE", "model": "task", "id": "t2"})[0]
        self.assertEqual(deleted["title"], "B")  # the row as it was
        events = self.all_events()
        self.assertEqual([(e["id"], e["type"]) for e in events],
                         [("tx_9:0", "CREATE"), ("tx_9:1", "CREATE"), ("tx_arch:0", "ARCHIVE"),
                          ("tx_unarch:0", "UNARCHIVE"), ("tx_del:0", "DELETE")])
        self.assertNotIn("data", events[-1])  # null data is omitted on the wire
        self.assertIsNotNone(events[2]["data"]["archivedAt"])
        for event in events:
            self.assertNotIn("cursor", event)
            self.assertIsInstance(event["occurredAt"], int)
            self.assertNotIn("organizationId", event)  # model "task" has no tenancy column

    def test_events_cursor_compares_as_a_number(self):
        for i in range(12):
            self.commit(f"tx_num_{i}", create("task", f"n{i:02d}"))
        first_cursor = int(self.events(limit=1)["nextCursor"])
        after_nine = self.events(str(first_cursor + 8), 100)
        self.assertEqual([e["entityId"] for e in after_nine["events"]], ["n09", "n10", "n11"])
        self.assertEqual(after_nine["nextCursor"], str(first_cursor + 11))

    def test_non_numeric_events_cursor_is_rejected(self):
        for cursor in ("abc", "-1", "1.5", "9 "):
            with self.subTest(cursor=cursor):
                self.assert_error({"type": "events", "cursor": cursor}, 400, "source_events_invalid_cursor")

    def test_events_default_limit_is_100(self):
        self.commit("tx_many", *[create("task", f"m{i:03d}") for i in range(105)])
        page = self.events()
        self.assertEqual(len(page["events"]), 100)
        self.assertEqual(len(self.events(page["nextCursor"])["events"]), 5)

    def test_cursors_stay_monotonic_after_outbox_rows_are_deleted(self):
        self.commit("tx_m1", create("task", "m1"), create("task", "m2"))
        highest = int(self.events()["nextCursor"])
        self.db.external("DELETE FROM ablo_outbox")
        self.commit("tx_m2", create("task", "m3"))
        page = self.events()
        self.assertEqual([e["id"] for e in page["events"]], ["tx_m2:0"])
        self.assertGreater(int(page["nextCursor"]), highest)

    def test_paging_events_one_by_one(self):
        self.commit("tx_p", create("task", "p1"), create("task", "p2"), create("task", "p3"))
        seen, cursor = [], None
        for _ in range(3):
            page = self.events(cursor, 1)
            self.assertEqual(len(page["events"]), 1)
            seen.append(page["events"][0]["id"])
            cursor = page["nextCursor"]
        self.assertEqual(seen, ["tx_p:0", "tx_p:1", "tx_p:2"])
        self.assertEqual(self.events(cursor, 1), {"events": []})

    # list ----------------------------------------------------------------------------------
    def seed_tasks(self):
        self.commit("tx_seed_list",
                    create("tasks", "a", title="Alpha", position=1, done=True, status="todo"),
                    create("tasks", "b", title="beta", position=2, done=False, status="doing"),
                    create("tasks", "c", title="Gamma", position=3, done=True),
                    create("tasks", "d", title="delta", position=3, done=False, status="done"))

    def ids(self, **query):
        return [row["id"] for row in self.list("tasks", **query)["rows"]]

    def test_list_where_operators(self):
        self.seed_tasks()
        cases = [
            ([["done", True]], ["a", "c"]),
            ([["position", "=", 3]], ["c", "d"]),
            ([["position", "!=", 3]], ["a", "b"]),
            ([["position", "<", 2]], ["a"]),
            ([["position", "<=", 2]], ["a", "b"]),
            ([["position", ">", 2]], ["c", "d"]),
            ([["position", ">=", 2]], ["b", "c", "d"]),
            ([["status", "IN", ["todo", "done"]]], ["a", "d"]),
            ([["status", "NOT IN", ["todo", "done"]]], ["b"]),
            ([["status", "IN", []]], []),
            ([["status", "IS", None]], ["c"]),
            ([["status", "IS NOT", None]], ["a", "b", "d"]),
            ([["status", "=", None]], ["c"]),
            ([["title", "LIKE", "%ta"]], ["b", "d"]),
            ([["title", "LIKE", "A%"]], ["a"]),
            ([["title", "LIKE", "g%"]], []),
            ([["title", "ILIKE", "g%"]], ["c"]),
            ([["title", "NOT LIKE", "%a"]], []),
            ([["title", "ILIKE", "a%"]], ["a"]),
            ([["title", "NOT ILIKE", "%ta"]], ["a", "c"]),
            ([["done", False], ["position", 3]], ["d"]),
            ([["id", "in", ["a", "b"]]], ["a", "b"]),
        ]
        for where, expected in cases:
            with self.subTest(where=where):
                self.assertEqual(sorted(self.ids(where=where)), expected)

    def test_list_rejects_unknown_fields_and_operators(self):
        self.assert_error({"type": "list", "model": "tasks", "query": {"where": [["nope", 1]]}}, 400,
                          "source_request_invalid")
        self.assert_error({"type": "list", "model": "tasks", "query": {"where": [["title", "~", "x"]]}}, 400,
                          "source_request_invalid")
        self.assert_error({"type": "list", "model": "nope"}, 400, "source_request_invalid")

    def test_list_order_and_keyset_paging(self):
        self.seed_tasks()
        self.assertEqual(self.ids(orderBy="position", order="desc"), ["d", "c", "b", "a"])
        self.assertEqual(self.ids(orderBy="status"), ["b", "d", "a", "c"])  # nulls last ascending
        for order, expected in (("asc", ["b", "d", "a", "c"]), ("desc", ["c", "a", "d", "b"])):
            seen, cursor = [], None
            while True:
                query = {"orderBy": "status", "order": order, "limit": 1}
                if cursor:
                    query["cursor"] = cursor
                page = self.list("tasks", **query)
                seen += [row["id"] for row in page["rows"]]
                cursor = page.get("nextCursor")
                if not cursor:
                    break
            with self.subTest(order=order):
                self.assertEqual(seen, expected)
        page = self.list("tasks", limit=3)
        self.assertEqual([row["id"] for row in page["rows"]], ["a", "b", "c"])
        rest = self.list("tasks", limit=3, cursor=page["nextCursor"])
        self.assertEqual(([row["id"] for row in rest["rows"]], "nextCursor" in rest), (["d"], False))

    def test_list_pages_by_a_date_field_in_both_orders(self):
        self.commit("tx_dates", *[create("tasks", f"d{i}", title="t", dueAt=f"2026-0{1 + i % 3}-01T00:00:00Z")
                                  for i in range(6)])
        for order in ("asc", "desc"):
            seen, cursor = [], None
            while True:
                page = self.list("tasks", orderBy="dueAt", order=order, limit=2, **({"cursor": cursor} if cursor else {}))
                seen += [(row["dueAt"], row["id"]) for row in page["rows"]]
                cursor = page.get("nextCursor")
                if not cursor:
                    break
            with self.subTest(order=order):
                self.assertEqual(seen, sorted(seen, reverse=order == "desc"))
                self.assertEqual(len(seen), 6)
        self.assertEqual(sorted(self.ids(where=[["dueAt", ">=", "2026-03-01T00:00:00Z"]])), ["d2", "d5"])
        self.assert_error({"type": "list", "model": "tasks", "query": {"orderBy": "title", "cursor": page_cursor(self)}},
                          400, "source_request_invalid")

    def test_list_limit_defaults_to_1000_and_is_capped_at_5000(self):
        self.commit("tx_bulk", *[create("task", f"b{i:04d}") for i in range(1001)])
        page = self.list("task")
        self.assertEqual(len(page["rows"]), 1000)
        self.assertIn("nextCursor", page)
        self.assertEqual(len(self.list("task", limit=99999)["rows"]), 1001)
        self.assert_error({"type": "list", "model": "task", "query": {"limit": 0}}, 400, "source_request_invalid")

    # external writers ----------------------------------------------------------------------
    def test_external_writes_become_events_without_client_tx_id(self):
        self.db.external("INSERT INTO tasks (id, title, done, organization_id) VALUES ('x1', 'ext', true, 'org_9')")
        self.db.external("UPDATE tasks SET title = 'ext2' WHERE id = 'x1'")
        self.db.external("UPDATE tasks SET archived_at = '2026-01-01T00:00:00.000Z' WHERE id = 'x1'")
        self.db.external("UPDATE tasks SET archived_at = NULL WHERE id = 'x1'")
        self.db.external("DELETE FROM tasks WHERE id = 'x1'")
        events = self.all_events()
        self.assertEqual([e["type"] for e in events], ["CREATE", "UPDATE", "ARCHIVE", "UNARCHIVE", "DELETE"])
        for event in events:
            self.assertNotIn("clientTxId", event)
            self.assertRegex(event["id"], r"^ext:\d+$")
            self.assertEqual((event["model"], event["entityId"], event["organizationId"]), ("tasks", "x1", "org_9"))
        self.assertEqual(len({e["id"] for e in events}), 5)
        self.assertEqual((events[0]["data"]["title"], events[0]["data"]["done"]), ("ext", True))
        self.assertEqual(events[1]["data"]["title"], "ext2")
        self.assertNotIn("data", events[4])

    def test_external_and_endpoint_writes_interleave_without_double_reporting(self):
        self.commit("tx_own", create("task", "o1", title="A"), {"type": "UPDATE", "model": "task", "id": "o1",
                                                                 "input": {"title": "B"}})
        self.db.external("UPDATE task SET title = 'C' WHERE id = 'o1'")
        self.commit("tx_own2", {"type": "DELETE", "model": "task", "id": "o1"})
        events = self.all_events()
        self.assertEqual([(e["id"].split(":")[0], e["type"], e.get("clientTxId")) for e in events],
                         [("tx_own", "CREATE", "tx_own"), ("tx_own", "UPDATE", "tx_own"),
                          ("ext", "UPDATE", None), ("tx_own2", "DELETE", "tx_own2")])
        self.assertEqual(self.db.query("SELECT count(*) FROM ablo_outbox"), [(4,)])

    def test_replay_touches_neither_rows_nor_outbox(self):
        rows = self.commit("tx_once", create("task", "t1", title="A"))
        self.db.external("UPDATE task SET title = 'changed outside' WHERE id = 't1'")
        self.assertEqual(self.commit("tx_once", create("task", "t1", title="A")), rows)
        self.assertEqual(self.load("task", "t1")["title"], "changed outside")
        self.assertEqual(len(self.all_events()), 2)


def page_cursor(case):
    """A list cursor issued for orderBy id (used to check a cursor is refused under another orderBy)."""
    return case.list("tasks", limit=1)["nextCursor"]


class SqliteBackingTest(BackingContract, EndpointCase):
    database_class = SqliteDatabase

    def test_tables_and_triggers_exist(self):
        tables = {name for (name,) in self.db.query("SELECT name FROM sqlite_master WHERE type = 'table'")}
        self.assertTrue({"task", "tasks", "weather_reports", "ablo_idempotency", "ablo_outbox"} <= tables)
        triggers = {name for (name,) in self.db.query("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        self.assertIn("ablo_outbox_tasks_insert", triggers)
        self.assertEqual(self.db.query("PRAGMA journal_mode"), [("wal",)])


@unittest.skipUnless(PG_URL, "set ABLO_TEST_DATABASE_URL (e.g. scripts/with-postgres.sh) for the PostgreSQL pass")
class PostgresBackingTest(BackingContract, EndpointCase):
    database_class = PostgresDatabase

    def test_external_writes_wake_listeners(self):
        import select
        import psycopg2
        listener = psycopg2.connect(self.db.url)
        listener.autocommit = True
        try:
            listener.cursor().execute("LISTEN ablo_outbox")
            self.db.external("INSERT INTO task (id, title) VALUES ('w1', 'wake')")
            ready, _, _ = select.select([listener], [], [], 10)
            self.assertTrue(ready, "no notification within 10 s")
            listener.poll()
            self.assertEqual([(n.channel, n.payload) for n in listener.notifies], [("ablo_outbox", "")])
        finally:
            listener.close()

    def test_column_types_follow_the_provisioner(self):
        types = dict(self.db.query("SELECT column_name, data_type FROM information_schema.columns "
                                   "WHERE table_name = 'tasks'"))
        self.assertEqual((types["position"], types["done"], types["due_at"], types["meta"], types["created_at"]),
                         ("double precision", "boolean", "timestamp with time zone", "jsonb",
                          "timestamp with time zone"))


# --- HTTP pipeline (backing-independent, SQLite) -----------------------------------------------

class PipelineTest(EndpointCase):
    def test_other_methods_are_405(self):
        for method in ("GET", "PUT", "DELETE"):
            with self.subTest(method=method):
                self.assertEqual(http(self.endpoint.url, method=method), (405, {"error": "method_not_allowed"}))
        self.assertEqual(http(self.endpoint.base + "/elsewhere", b"{}")[0], 404)

    def test_invalid_json_is_reported_before_authentication(self):
        self.assertEqual(http(self.endpoint.url, b"{not json", {"Content-Type": "application/json"}),
                         (400, {"error": "invalid_json"}))

    def test_unsigned_requests_are_401(self):
        status, answer = http(self.endpoint.url, b'{"type":"events"}', {"Content-Type": "application/json"})
        self.assertEqual((status, answer["error"]), (401, "source_id_missing"))
        self.assertTrue(answer["message"])

    def test_nan_is_not_json(self):
        status, answer = self.call(b'{"type":"commit","clientTxId":"tx_nan","operations":[{"type":"CREATE",'
                                   b'"model":"task","id":"n1","input":{"n":NaN}}]}')
        self.assertEqual((status, answer["error"]), (400, "invalid_json"))

    def test_signed_non_object_bodies_are_400(self):
        for raw in (b"null", b"[]", b"3", b'"events"'):
            with self.subTest(raw=raw):
                status, answer = self.call(raw)
                self.assertEqual((status, answer["error"]), (400, "invalid_body"))

    def test_unknown_type_is_unknown_source_request(self):
        self.assert_error({"type": "bogus"}, 400, "unknown_source_request")
        self.assert_error({"model": "task"}, 400, "unknown_source_request")

    def test_signature_failures_are_401_with_code_and_message(self):
        stale = int(time.time()) - 301
        status, answer = self.call({"type": "events"}, timestamp=stale)
        self.assertEqual((status, answer["error"]), (401, "source_timestamp_expired"))
        status, answer = self.call({"type": "events"}, key="sk_test_wrong")
        self.assertEqual((status, answer["error"]), (401, "source_signature_invalid"))
        raw = b'{"type":"events"}'
        headers = signature.signed_headers(KEY, "m1", raw)
        status, answer = http(self.endpoint.url, b'{"type": "events"}', headers)  # re-serialised after signing
        self.assertEqual((status, answer["error"]), (401, "source_signature_invalid"))

    def test_header_names_are_case_insensitive(self):
        status, _ = self.call({"type": "events"}, header_case=lambda name: name.title())
        self.assertEqual(status, 200)
        status, _ = self.call({"type": "events"}, header_case=str.upper)
        self.assertEqual(status, 200)

    def test_rotation_header_with_several_values_is_accepted(self):
        raw = b'{"type":"events"}'
        headers = signature.signed_headers(KEY, "m_rot", raw)
        headers["webhook-signature"] = "v1,AAAA " + headers["webhook-signature"]
        self.assertEqual(http(self.endpoint.url, raw, headers), (200, {"events": []}))

    def test_commit_request_validation(self):
        self.assert_error({"type": "commit", "operations": [create("task", "t1")]}, 400,
                          "source_commit_requires_client_tx_id")
        self.assert_error({"type": "commit", "clientTxId": "", "operations": [create("task", "t1")]}, 400,
                          "source_commit_requires_client_tx_id")
        self.assert_error({"type": "commit", "clientTxId": "tx", "operations": []}, 400, "source_commit_invalid")
        self.assert_error({"type": "commit", "clientTxId": "tx",
                           "operations": [{"type": "UPSERT", "model": "task", "id": "t1"}]}, 400, "source_commit_invalid")
        self.assert_error({"type": "commit", "clientTxId": "tx",
                           "operations": [{"type": "CREATE", "model": "", "id": "t1"}]}, 400, "source_commit_invalid")
        answer = self.assert_error({"type": "commit", "clientTxId": "tx", "operations": [create("ghosts", "g1")]},
                                   400, "source_commit_invalid")
        self.assertIn("ghosts", answer["message"])
        self.assert_error({"type": "commit", "clientTxId": "tx", "operations": [{"type": "CREATE", "model": "task"}]},
                          400, "source_commit_invalid")

    def test_id_may_come_from_input_and_scope_is_accepted(self):
        status, answer = self.call({"type": "commit", "clientTxId": "tx_in", "scope": {"mode": "test"},
                                    "operations": [{"type": "CREATE", "model": "task", "input": {"id": "i1", "title": "x"}}]})
        self.assertEqual((status, answer["rows"][0]["id"]), (200, "i1"))

    def test_load_requires_an_id(self):
        self.assert_error({"type": "load", "model": "task"}, 400, "source_request_invalid")

    def test_bodies_over_4_mib_are_413(self):
        raw = b'{"type":"events","pad":"' + b"x" * (4 * 1024 * 1024) + b'"}'
        try:
            status, answer = self.call(raw)
        except (ConnectionError, urllib.error.URLError):
            self.fail("the endpoint dropped the connection instead of answering 413")
        self.assertEqual((status, answer["error"]), (413, "payload_too_large"))

    def test_non_ascii_bodies_verify_as_sent(self):
        raw = json.dumps({"type": "commit", "clientTxId": "tx_ü", "operations": [create("task", "ü1", title="Zoë ✓")]},
                         ensure_ascii=False).encode("utf-8")
        status, answer = self.call(raw)
        self.assertEqual((status, answer["rows"][0]["title"]), (200, "Zoë ✓"))


# --- test controls ----------------------------------------------------------------------------

class TestControlsTest(EndpointCase):
    def requests(self):
        status, body = http(self.endpoint.base + "/_test/requests", method="GET")
        self.assertEqual(status, 200)
        return body["requests"]

    def test_fail_next_answers_the_status_without_applying(self):
        self.control({"failNext": 2, "failStatus": 502})
        body = {"type": "commit", "clientTxId": "tx_f", "operations": [create("task", "f1")]}
        self.assertEqual(self.call(body)[0], 502)
        self.assertEqual(self.call(body)[0], 502)
        self.assertIsNone(self.load("task", "f1"))
        self.assertEqual(self.call(body)[0], 200)
        self.assertEqual(self.load("task", "f1")["id"], "f1")

    def test_fail_next_counts_only_signed_requests(self):
        self.control({"failNext": 1})
        http(self.endpoint.url, b'{"type":"events"}', {"Content-Type": "application/json"})  # unsigned → 401
        self.assertEqual(self.call({"type": "events"})[0], 503)
        self.assertEqual(self.call({"type": "events"})[0], 200)

    def test_delay_ms_delays_the_answer(self):
        self.control({"delayMs": 400})
        started = time.monotonic()
        self.assertEqual(self.call({"type": "events"})[0], 200)
        self.assertGreaterEqual(time.monotonic() - started, 0.4)

    def test_commit_then_fail_applies_then_loses_the_answer(self):
        self.control({"commitThenFail": 1})
        body = {"type": "commit", "clientTxId": "tx_lost", "operations": [create("task", "l1", title="A")]}
        status, answer = self.call(body)
        self.assertEqual((status, answer["error"]), (503, "test_commit_then_fail"))
        self.assertEqual(self.load("task", "l1")["title"], "A")  # applied and committed
        status, answer = self.call(body)  # the retry replays the stored rows
        self.assertEqual((status, answer["rows"][0]["id"]), (200, "l1"))
        self.assertEqual(len(self.all_events()), 1)

    def test_rows_modes_mangle_only_the_answer(self):
        expectations = {"wrongId": lambda rows: rows[0]["id"] == "w0_wrong",
                        "unknownField": lambda rows: rows[0]["notInSchema"] is True,
                        "fewerRows": lambda rows: len(rows) == 1}
        for number, (mode, check) in enumerate(expectations.items()):
            with self.subTest(mode=mode):
                self.db.reset()
                self.control({"rowsMode": mode})
                rows = self.commit(f"tx_mode_{number}", create("task", "w0"), create("task", "w1"))
                self.assertTrue(check(rows), rows)
                self.assertEqual(self.load("task", "w0")["id"], "w0")
                self.assertEqual(len(self.all_events()), 2)
        self.control({})
        self.assertEqual(len(self.commit("tx_mode_off", create("task", "w2"), create("task", "w3"))), 2)

    def test_duplicate_events_repeats_each_event(self):
        self.commit("tx_d", create("task", "d1"), create("task", "d2"))
        self.control({"duplicateEvents": True})
        self.assertEqual([e["id"] for e in self.events()["events"]], ["tx_d:0", "tx_d:0", "tx_d:1", "tx_d:1"])

    def test_wrong_key_makes_every_signature_invalid(self):
        self.control({"wrongKey": True})
        status, answer = self.call({"type": "events"})
        self.assertEqual((status, answer["error"]), (401, "source_signature_invalid"))
        self.control({})
        self.assertEqual(self.call({"type": "events"})[0], 200)

    def test_requests_are_recorded_with_retries_reusing_the_client_tx_id(self):
        self.control({"failNext": 1})
        body = {"type": "commit", "clientTxId": "tx_rec", "operations": [create("task", "r1")]}
        self.call(body, message_id="msg_a", timestamp=int(time.time()))
        self.call(body, message_id="msg_b")
        self.call({"type": "events"}, message_id="msg_c")
        recorded = self.requests()[-3:]
        self.assertEqual([(r["type"], r["webhookId"], r.get("clientTxId"), r["status"]) for r in recorded],
                         [("commit", "msg_a", "tx_rec", 503), ("commit", "msg_b", "tx_rec", 200),
                          ("events", "msg_c", None, 200)])
        self.assertTrue(all(r["timestamp"].isdigit() for r in recorded))

    def test_request_log_keeps_the_last_200(self):
        for _ in range(205):
            self.call({"type": "bogus"})
        self.assertEqual(len(self.requests()), 200)

    def test_control_routes_only_exist_with_the_flag(self):
        db = SqliteDatabase()
        plain = EndpointProcess(db.url)
        try:
            self.assertEqual(http(plain.base + "/_test/control", b"{}")[0], 404)
            self.assertEqual(http(plain.base + "/_test/requests", method="GET")[0], 404)
        finally:
            plain.stop()
            db.drop()


# --- CLI -----------------------------------------------------------------------------------------

class CliTest(unittest.TestCase):
    def setUp(self):
        self.db = SqliteDatabase()

    def tearDown(self):
        self.db.drop()

    def test_test_controls_are_refused_on_a_public_bind(self):
        done = subprocess.run([PYTHON, ENDPOINT, "--key", KEY, "--schema", SCHEMA, "--database", self.db.url,
                               "--host", "0.0.0.0", "--port", "0", "--test-controls"],
                              capture_output=True, text=True, timeout=30)
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("loopback", done.stderr)

    def test_key_comes_from_dotenv_and_path_is_configurable(self):
        with open(os.path.join(self.db.directory, ".env"), "w") as handle:
            handle.write("# local secrets\nexport ABLO_API_KEY='sk_test_from_dotenv'\n")
        env = {k: v for k, v in os.environ.items() if k != "ABLO_API_KEY"}
        endpoint = EndpointProcess(self.db.url, ["--path", "/hooks/source"], cwd=self.db.directory, env=env, key=None)
        try:
            self.assertTrue(endpoint.url.endswith("/hooks/source"))
            self.assertEqual(signed_post(endpoint.url, {"type": "events"}, key="sk_test_from_dotenv"),
                             (200, {"events": []}))
            self.assertEqual(signed_post(endpoint.url, {"type": "events"}, key=KEY)[0], 401)
        finally:
            endpoint.stop()

    def test_missing_key_is_refused(self):
        env = {k: v for k, v in os.environ.items() if k != "ABLO_API_KEY"}
        done = subprocess.run([PYTHON, ENDPOINT, "--schema", SCHEMA, "--database", self.db.url, "--port", "0"],
                              cwd=self.db.directory, env=env, capture_output=True, text=True, timeout=30)
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("ABLO_API_KEY", done.stderr)


class PushHelperTest(unittest.TestCase):
    """``endpoint.py push`` against a stand-in for Ablo's POST /api/source/events."""

    def setUp(self):
        received, status = [], [202]

        class Receiver(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((self.path, dict((k.lower(), v) for k, v in self.headers.items()), raw))
                payload = json.dumps({"accepted": True}).encode()
                self.send_response(status[0])
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.received, self.status = received, status
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/source/events"

    def tearDown(self):
        self.server.shutdown()
        self.server.server_close()

    def push(self, *extra):
        events = [{"id": "ext:1", "model": "tasks", "entityId": "t1", "type": "UPDATE", "data": {"title": "é"}}]
        return subprocess.run([PYTHON, ENDPOINT, "push", "--url", self.url, "--key", KEY,
                               "--events-json", json.dumps(events), *extra], capture_output=True, text=True, timeout=30)

    def test_push_signs_events_with_a_stable_id(self):
        done = self.push("--id", "q_item_1")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(done.stdout.splitlines()[0], "202")
        path, headers, raw = self.received[0]
        self.assertEqual(path, "/api/source/events")
        self.assertEqual((headers["webhook-id"], headers["idempotency-key"]), ("q_item_1", "q_item_1"))
        self.assertEqual(json.loads(raw)["events"][0]["data"], {"title": "é"})
        self.assertEqual(verify(CaseInsensitive(headers), raw, KEY), ("q_item_1", int(headers["webhook-timestamp"])))

    def test_push_without_id_uses_a_fresh_one_and_fails_on_4xx(self):
        self.status[0] = 400
        done = self.push()
        self.assertEqual(done.returncode, 1)
        self.assertEqual(done.stdout.splitlines()[0], "400")
        headers = self.received[0][1]
        self.assertTrue(headers["webhook-id"])
        self.assertEqual(headers["webhook-id"], headers["idempotency-key"])


if __name__ == "__main__":
    unittest.main()
