"""SQLite and PostgreSQL backings of the reference Data Source endpoint.

Tables
  One table per schema model (schema.py names them) plus the adapter tables of
  datasource.md §3.5: ``ablo_idempotency`` (the commit ledger, with the 0.49
  ``request_hash``) and ``ablo_outbox`` (the events feed, ``cursor`` monotonic
  and never reused: SQLite AUTOINCREMENT, PostgreSQL BIGSERIAL).

How every write reaches the outbox
  AFTER INSERT/UPDATE/DELETE triggers on every model table write one outbox row
  per changed row, in the writer's transaction.  That covers programs that
  write the tables directly (the sqlite3 CLI, psql, a cron job): their events
  carry no ``clientTxId`` and get the stable id ``ext:<cursor>``.

  The endpoint's own commits go through the same triggers, so a change is
  never reported twice.  Before each operation the commit tells the trigger
  who is writing: PostgreSQL through transaction-local settings
  (``set_config('ablo.client_tx_id', …, true)``, ``ablo.op_index``,
  ``ablo.op_type``), SQLite through the one-row table ``ablo_write_context``
  that the commit fills and empties inside its own transaction (SQLite has one
  writer at a time, so no other transaction can ever see it filled).  The
  trigger then uses the event id ``<clientTxId>:<index>``, the operation's
  type and ``client_tx_id``.  Event ``data`` is the row, field-keyed, built by
  the trigger (null for DELETE).  PostgreSQL triggers also run
  ``pg_notify('ablo_outbox', '')`` as a payload-free wake-up.

Commit semantics (the "recommended C++ semantics" of §3.6)
  One transaction: ledger lookup by clientTxId (a replay returns the stored
  rows and touches nothing; different operations under the same clientTxId →
  409 ``idempotency_conflict``), then each operation with RETURNING, then the
  ledger row.  UPDATE/ARCHIVE/UNARCHIVE/DELETE of a missing row → 409
  ``entity_not_found``; CREATE of an existing id → 409 ``unique_violation``;
  either aborts the whole batch.  Concurrent identical commits: SQLite takes
  the write lock up front (BEGIN IMMEDIATE); PostgreSQL takes a transaction
  advisory lock on the clientTxId; should a race still end in an error, the
  ledger is read again and a stored answer wins.
"""

import json
import sqlite3
import threading
from contextlib import contextmanager

from operations import SourceError, format_timestamp, intent_hash, iso_now, encode_list_cursor

OUTBOX_COLUMNS = "id, model, entity_id, type, data, organization_id, client_tx_id, occurred_at"


def quote(identifier):
    return '"' + identifier.replace('"', '""') + '"'


def sql_text(value):
    return "'" + value.replace("'", "''") + "'"


def normalise_number(value):
    """REAL columns hand back 3.0 for 3; JSON clients expect 3."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def normalise_event_data(data):
    if isinstance(data, dict):
        return {key: normalise_number(value) for key, value in data.items()}
    return data


class Backing:
    """Dialect-independent commit, read and events logic; subclasses supply SQL details."""

    placeholder = "?"

    def __init__(self, models):
        self.models = models

    # --- hooks the dialects implement -----------------------------------------------------
    def setup(self):
        raise NotImplementedError

    @contextmanager
    def read_connection(self):
        raise NotImplementedError

    @contextmanager
    def write_transaction(self, client_tx_id):
        raise NotImplementedError

    def execute(self, conn, sql, params=()):
        """Runs one statement; returns the result rows as dicts (column → value)."""
        raise NotImplementedError

    def set_write_context(self, conn, client_tx_id, operation):
        raise NotImplementedError

    def clear_write_context(self, conn):
        pass

    def is_unique_violation(self, error):
        raise NotImplementedError

    def to_db(self, field, value):
        return value

    def from_db(self, field, value):
        return value

    def cursor_value(self, value):
        """A raw order-by value as JSON for a list cursor."""
        return value

    # --- rows ----------------------------------------------------------------------------
    def sql(self, text):
        return text if self.placeholder == "?" else text.replace("?", self.placeholder)

    def row_from_db(self, model, record):
        row = {}
        for field in model.fields.values():
            if field.column in record:
                row[field.name] = self.from_db(field, record[field.column])
        return row

    # --- load / list -----------------------------------------------------------------------
    def load(self, model, row_id):
        with self.read_connection() as conn:
            records = self.execute(conn, f"SELECT * FROM {quote(model.table)} WHERE id = ? LIMIT 1", (row_id,))
        return self.row_from_db(model, records[0]) if records else None

    def list(self, model, query):
        """``(rows, next_cursor)``; next_cursor is None when no rows remain after this page."""
        clauses, params = [], []
        for condition in query.conditions:
            clause, values = self.condition_sql(condition)
            clauses.append(clause)
            params += values
        if query.after is not None:
            clause, values = self.keyset_sql(query.order_field, query.descending, *query.after)
            clauses.append(clause)
            params += values
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
        column = quote(query.order_field.column)
        direction = "DESC NULLS FIRST" if query.descending else "ASC NULLS LAST"
        id_direction = "DESC" if query.descending else "ASC"
        sql = (f"SELECT * FROM {quote(model.table)}{where} "
               f"ORDER BY {column} {direction}, id {id_direction} LIMIT ?")
        with self.read_connection() as conn:
            records = self.execute(conn, sql, params + [query.limit + 1])
        next_cursor = None
        if len(records) > query.limit:
            records = records[:query.limit]
            last = records[-1]
            next_cursor = encode_list_cursor(query.order_field, query.descending,
                                             self.cursor_value(last[query.order_field.column]), last["id"])
        return [self.row_from_db(model, record) for record in records], next_cursor

    def condition_sql(self, condition):
        field, operator, value = condition.field, condition.operator, condition.value
        column = quote(field.column)
        if operator in ("IN", "NOT IN"):
            if not value:
                return ("1=0" if operator == "IN" else "1=1"), []
            marks = ", ".join("?" for _ in value)
            return f"{column} {operator} ({marks})", [self.to_db(field, item) for item in value]
        if value is None and operator in ("=", "IS"):
            return f"{column} IS NULL", []
        if value is None and operator in ("!=", "IS NOT"):
            return f"{column} IS NOT NULL", []
        if operator in ("LIKE", "NOT LIKE", "ILIKE", "NOT ILIKE"):
            return self.like_sql(column, operator, value)
        if operator == "IS":
            return self.null_safe_equal(column), [self.to_db(field, value)]
        if operator == "IS NOT":
            return "NOT (" + self.null_safe_equal(column) + ")", [self.to_db(field, value)]
        return f"{column} {operator} ?", [self.to_db(field, value)]

    def null_safe_equal(self, column):
        return f"{column} IS NOT DISTINCT FROM ?"

    def like_sql(self, column, operator, value):
        negate = "NOT " if operator.startswith("NOT") else ""
        if operator.endswith("ILIKE"):
            return f"{negate}(LOWER(CAST({column} AS TEXT)) LIKE LOWER(?))", [value]
        return f"{negate}(CAST({column} AS TEXT) LIKE ?)", [value]

    def keyset_sql(self, field, descending, value, row_id):
        """Rows strictly after (value, id) in ORDER BY col ASC NULLS LAST, id (or its mirror)."""
        column = quote(field.column)
        if not descending:
            if value is None:
                return f"({column} IS NULL AND id > ?)", [row_id]
            return f"({column} IS NULL OR {column} > ? OR ({column} = ? AND id > ?))", [value, value, row_id]
        if value is None:
            return f"({column} IS NOT NULL OR id < ?)", [row_id]
        return f"({column} IS NOT NULL AND ({column} < ? OR ({column} = ? AND id < ?)))", [value, value, row_id]

    # --- commit ----------------------------------------------------------------------------
    def commit(self, client_tx_id, operations):
        """The canonical rows of the batch, applied at most once per clientTxId."""
        request_hash = intent_hash(operations)
        try:
            with self.write_transaction(client_tx_id) as conn:
                stored = self.ledger_lookup(conn, client_tx_id)
                if stored is not None:
                    return self.replay(stored, request_hash, client_tx_id)
                rows = [self.apply(conn, client_tx_id, operation) for operation in operations]
                self.clear_write_context(conn)
                self.execute(conn, "INSERT INTO ablo_idempotency (client_tx_id, response, request_hash) VALUES (?, ?, ?)",
                             (client_tx_id, json.dumps(rows), request_hash))
                return rows
        except Exception as error:
            # A concurrent identical commit may have won the race: its stored answer is the answer.
            stored = self.ledger_lookup_fresh(client_tx_id)
            if stored is None:
                if self.is_unique_violation(error):
                    raise SourceError(409, "unique_violation", str(error).strip().splitlines()[0]) from None
                raise
            return self.replay(stored, request_hash, client_tx_id)

    def ledger_lookup(self, conn, client_tx_id):
        records = self.execute(conn, "SELECT response, request_hash FROM ablo_idempotency WHERE client_tx_id = ?",
                               (client_tx_id,))
        return records[0] if records else None

    def ledger_lookup_fresh(self, client_tx_id):
        with self.read_connection() as conn:
            return self.ledger_lookup(conn, client_tx_id)

    def replay(self, stored, request_hash, client_tx_id):
        if stored["request_hash"] and stored["request_hash"] != request_hash:
            raise SourceError(409, "idempotency_conflict",
                              f"clientTxId {client_tx_id!r} was already committed with different operations")
        response = stored["response"]
        return json.loads(response) if isinstance(response, str) else response

    def apply(self, conn, client_tx_id, operation):
        self.set_write_context(conn, client_tx_id, operation)
        model, table = operation.model, quote(operation.model.table)
        if operation.type == "CREATE":
            records = self.insert_row(conn, operation)
        elif operation.type == "DELETE":
            records = self.execute(conn, f"DELETE FROM {table} WHERE id = ? RETURNING *", (operation.id,))
        else:
            records = self.update_row(conn, operation)
        if not records:
            raise SourceError(409, "entity_not_found",
                              f"operations[{operation.index}]: {operation.type} of missing {model.key} {operation.id!r}",
                              model=model.key, id=operation.id, index=operation.index)
        return self.row_from_db(model, records[0])

    def insert_row(self, conn, operation):
        model = operation.model
        columns = ["id"] + [model.column_of(name) for name in operation.input]
        values = [operation.id] + [self.to_db(model.fields[name], value) for name, value in operation.input.items()]
        marks = ", ".join("?" for _ in columns)
        sql = f"INSERT INTO {quote(model.table)} ({', '.join(map(quote, columns))}) VALUES ({marks}) RETURNING *"
        try:
            return self.execute(conn, sql, values)
        except Exception as error:
            if self.is_unique_violation(error):
                raise SourceError(409, "unique_violation",
                                  f"operations[{operation.index}]: {model.key} {operation.id!r} already exists",
                                  model=model.key, id=operation.id, index=operation.index) from None
            raise

    def update_row(self, conn, operation):
        model = operation.model
        now = iso_now()
        assignments = {"updated_at": now}  # defaults first: values Ablo sent in the input win
        if operation.type == "ARCHIVE":
            assignments["archived_at"] = now
        elif operation.type == "UNARCHIVE":
            assignments["archived_at"] = None
        assignments.update({model.column_of(name): self.to_db(model.fields[name], value)
                            for name, value in operation.input.items()})
        setters = ", ".join(f"{quote(column)} = ?" for column in assignments)
        sql = f"UPDATE {quote(model.table)} SET {setters} WHERE id = ? RETURNING *"
        return self.execute(conn, sql, list(assignments.values()) + [operation.id])

    # --- events ----------------------------------------------------------------------------
    def events(self, after, limit):
        """``(events, next_cursor)`` oldest first; wire shape of §1.6.2 (nulls and cursor left out)."""
        with self.read_connection() as conn:
            records = self.execute(conn, f'SELECT "cursor", {OUTBOX_COLUMNS} FROM ablo_outbox '
                                         'WHERE "cursor" > ? ORDER BY "cursor" LIMIT ?', (after, limit))
        events = [self.event_from_db(record) for record in records]
        next_cursor = str(records[-1]["cursor"]) if records else None
        return events, next_cursor

    def event_from_db(self, record):
        event = {"id": record["id"], "model": record["model"], "entityId": record["entity_id"], "type": record["type"]}
        data = record["data"]
        if isinstance(data, str):
            data = json.loads(data)
        optional = {"data": normalise_event_data(data), "organizationId": record["organization_id"],
                    "clientTxId": record["client_tx_id"], "occurredAt": record["occurred_at"]}
        event.update({key: value for key, value in optional.items() if value not in (None, "")})
        return event


# =====================================================================================
# SQLite
# =====================================================================================

SQLITE_TYPES = {"string": "TEXT", "enum": "TEXT", "number": "REAL", "boolean": "INTEGER", "date": "TEXT", "json": "TEXT"}
SQLITE_NOW = "(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))"

SQLITE_ADAPTER_TABLES = [
    """CREATE TABLE IF NOT EXISTS ablo_idempotency (
         client_tx_id TEXT PRIMARY KEY,
         response TEXT NOT NULL,
         request_hash TEXT,
         created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))""",
    """CREATE TABLE IF NOT EXISTS ablo_outbox (
         "cursor" INTEGER PRIMARY KEY AUTOINCREMENT,
         id TEXT NOT NULL UNIQUE,
         model TEXT NOT NULL,
         entity_id TEXT NOT NULL,
         type TEXT NOT NULL,
         data TEXT,
         organization_id TEXT,
         client_tx_id TEXT,
         occurred_at INTEGER,
         created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))""",
    # Who is writing, while an endpoint commit runs (see the module docstring); empty otherwise.
    """CREATE TABLE IF NOT EXISTS ablo_write_context (
         singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
         client_tx_id TEXT NOT NULL,
         op_index INTEGER NOT NULL,
         op_type TEXT NOT NULL)""",
]


def sqlite_column_sql(field):
    sql = f"{quote(field.column)} {SQLITE_TYPES[field.type]}"
    if field.type == "enum" and field.enum_values:
        allowed = ", ".join(sql_text(value) for value in field.enum_values)
        sql += f" CHECK ({quote(field.column)} IS NULL OR {quote(field.column)} IN ({allowed}))"
    return sql


def sqlite_json_value(field, ref):
    """SQL for one field of the trigger's row JSON; json() outermost so json_object embeds JSON, not text."""
    column = f"{ref}.{quote(field.column)}"
    if field.type == "boolean":
        return f"json(CASE WHEN {column} IS NULL THEN NULL WHEN {column} THEN 'true' ELSE 'false' END)"
    if field.type == "json":
        return f"json(CASE WHEN json_valid({column}) THEN {column} ELSE json_quote({column}) END)"
    return column


def sqlite_row_json(model, ref):
    """json_object(...) of the row; chained json_set keeps each call under SQLite's argument limit."""
    pairs = [(field.name, sqlite_json_value(field, ref)) for field in model.fields.values()]
    chunks = [pairs[i:i + 40] for i in range(0, len(pairs), 40)]
    expression = "json_object(" + ", ".join(f"{sql_text(k)}, {v}" for k, v in chunks[0]) + ")"
    for chunk in chunks[1:]:
        paths = ", ".join(f"{sql_text('$.' + json.dumps(k))}, {v}" for k, v in chunk)
        expression = f"json_set({expression}, {paths})"
    return expression


def sqlite_trigger_sql(model, event):
    """AFTER <event> trigger writing one outbox row; external writes get id ext:<cursor>."""
    ref = "OLD" if event == "DELETE" else "NEW"
    data = "NULL" if event == "DELETE" else sqlite_row_json(model, "NEW")
    natural_type = {"INSERT": "'CREATE'", "DELETE": "'DELETE'",
                    "UPDATE": "CASE WHEN OLD.archived_at IS NULL AND NEW.archived_at IS NOT NULL THEN 'ARCHIVE' "
                              "WHEN OLD.archived_at IS NOT NULL AND NEW.archived_at IS NULL THEN 'UNARCHIVE' "
                              "ELSE 'UPDATE' END"}[event]
    organization = f"{ref}.{quote(model.column_of('organizationId'))}" if "organizationId" in model.fields else "NULL"
    name = quote(f"ablo_outbox_{model.table}_{event.lower()}")
    return f"""CREATE TRIGGER {name} AFTER {event} ON {quote(model.table)} BEGIN
      INSERT INTO ablo_outbox ({OUTBOX_COLUMNS}) VALUES (
        COALESCE((SELECT client_tx_id || ':' || op_index FROM ablo_write_context),
                 'ext:pending:' || hex(randomblob(16))),
        {sql_text(model.key)}, {ref}.id,
        COALESCE((SELECT op_type FROM ablo_write_context), {natural_type}),
        {data}, {organization},
        (SELECT client_tx_id FROM ablo_write_context),
        CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
      UPDATE ablo_outbox SET id = 'ext:' || "cursor" WHERE "cursor" = last_insert_rowid() AND client_tx_id IS NULL;
    END"""


class SqliteBacking(Backing):
    """One connection per request (cheap for SQLite); WAL so readers never wait for the writer."""

    def __init__(self, models, path):
        super().__init__(models)
        self.path = path

    def connect(self):
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout = 30000")
        # LIKE must be case-sensitive so ILIKE (LOWER(..) LIKE LOWER(..)) is the only insensitive one.
        conn.execute("PRAGMA case_sensitive_like = ON")
        return conn

    def setup(self):
        with self.read_connection() as conn:
            conn.execute("PRAGMA journal_mode = WAL")  # persistent: set once, outside a transaction
        with self.write_transaction(None) as conn:
            for statement in SQLITE_ADAPTER_TABLES:
                conn.execute(statement)
            conn.execute("DELETE FROM ablo_write_context")  # a crash can only have rolled it back; be sure
            for model in self.models.values():
                self.create_model_table(conn, model)

    def create_model_table(self, conn, model):
        columns = []
        for field in model.fields.values():
            if field.name == "id":
                columns.append('"id" TEXT PRIMARY KEY')
            elif field.name in ("createdAt", "updatedAt"):
                columns.append(f"{quote(field.column)} TEXT NOT NULL DEFAULT {SQLITE_NOW}")
            else:
                columns.append(sqlite_column_sql(field))
        conn.execute(f"CREATE TABLE IF NOT EXISTS {quote(model.table)} ({', '.join(columns)})")
        existing = {row["name"] for row in conn.execute(f"PRAGMA table_info({quote(model.table)})")}
        for field in model.fields.values():
            if field.column not in existing:  # a field added to the schema since the table was made
                conn.execute(f"ALTER TABLE {quote(model.table)} ADD COLUMN {sqlite_column_sql(field)}")
        for event in ("INSERT", "UPDATE", "DELETE"):
            conn.execute(f"DROP TRIGGER IF EXISTS {quote(f'ablo_outbox_{model.table}_{event.lower()}')}")
            conn.execute(sqlite_trigger_sql(model, event))

    @contextmanager
    def read_connection(self):
        conn = self.connect()
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def write_transaction(self, client_tx_id):
        conn = self.connect()
        try:
            conn.execute("BEGIN IMMEDIATE")  # the write lock up front: no upgrade deadlocks, duplicates serialise
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()

    def execute(self, conn, sql, params=()):
        return [dict(row) for row in conn.execute(sql, list(params)).fetchall()]

    def set_write_context(self, conn, client_tx_id, operation):
        conn.execute("INSERT OR REPLACE INTO ablo_write_context (singleton, client_tx_id, op_index, op_type) "
                     "VALUES (1, ?, ?, ?)", (client_tx_id, operation.index, operation.type))

    def clear_write_context(self, conn):
        conn.execute("DELETE FROM ablo_write_context")

    def is_unique_violation(self, error):
        return isinstance(error, sqlite3.IntegrityError) and "UNIQUE" in str(error)

    def null_safe_equal(self, column):
        return f"{column} IS ?"

    def to_db(self, field, value):
        if value is None:
            return None
        if field.type == "boolean":
            return 1 if value else 0
        if field.type == "json":
            return json.dumps(value)
        return value

    def from_db(self, field, value):
        if value is None:
            return None
        if field.type == "boolean":
            return bool(value)
        if field.type == "json" and isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return value  # an external writer stored plain text; hand it back as it is
        return normalise_number(value) if field.type == "number" else value


# =====================================================================================
# PostgreSQL
# =====================================================================================

PG_TYPES = {"string": "TEXT", "enum": "TEXT", "number": "DOUBLE PRECISION", "boolean": "BOOLEAN",
            "date": "TIMESTAMPTZ", "json": "JSONB"}
PG_ISO = "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'"

PG_ADAPTER_TABLES = [
    """CREATE TABLE IF NOT EXISTS ablo_idempotency (
         client_tx_id TEXT PRIMARY KEY,
         response JSONB NOT NULL,
         request_hash TEXT,
         created_at TIMESTAMPTZ NOT NULL DEFAULT now())""",
    "ALTER TABLE ablo_idempotency ADD COLUMN IF NOT EXISTS request_hash TEXT",
    """CREATE TABLE IF NOT EXISTS ablo_outbox (
         "cursor" BIGSERIAL PRIMARY KEY,
         id TEXT NOT NULL UNIQUE,
         model TEXT NOT NULL,
         entity_id TEXT NOT NULL,
         type TEXT NOT NULL,
         data JSONB,
         organization_id TEXT,
         client_tx_id TEXT,
         occurred_at BIGINT,
         created_at TIMESTAMPTZ NOT NULL DEFAULT now())""",
]


def pg_json_value(field):
    column = f"NEW.{quote(field.column)}"
    if field.type == "date":
        return f"to_char({column} AT TIME ZONE 'UTC', {PG_ISO})"
    return column


def pg_row_json(model):
    """jsonb_build_object(...) of NEW, in chunks joined by || (functions take at most 100 arguments)."""
    pairs = [f"{sql_text(field.name)}, {pg_json_value(field)}" for field in model.fields.values()]
    chunks = [pairs[i:i + 40] for i in range(0, len(pairs), 40)]
    return " || ".join("jsonb_build_object(" + ", ".join(chunk) + ")" for chunk in chunks)


def pg_trigger_function_sql(model):
    organization = model.column_of("organizationId") if "organizationId" in model.fields else None
    old_org = f"OLD.{quote(organization)}" if organization else "NULL"
    new_org = f"NEW.{quote(organization)}" if organization else "NULL"
    return f"""CREATE OR REPLACE FUNCTION {quote('ablo_outbox_capture_' + model.table)}() RETURNS trigger
    LANGUAGE plpgsql AS $body$
    DECLARE
      tx text := nullif(current_setting('ablo.client_tx_id', true), '');
      next_position bigint := nextval(pg_get_serial_sequence('ablo_outbox', 'cursor'));
      kind text;
      row_data jsonb := NULL;
      entity text;
      org text;
    BEGIN
      IF TG_OP = 'DELETE' THEN
        entity := OLD.id; org := {old_org}; kind := 'DELETE';
      ELSE
        entity := NEW.id; org := {new_org}; row_data := {pg_row_json(model)};
        IF TG_OP = 'INSERT' THEN kind := 'CREATE';
        ELSIF OLD.archived_at IS NULL AND NEW.archived_at IS NOT NULL THEN kind := 'ARCHIVE';
        ELSIF OLD.archived_at IS NOT NULL AND NEW.archived_at IS NULL THEN kind := 'UNARCHIVE';
        ELSE kind := 'UPDATE';
        END IF;
      END IF;
      IF tx IS NOT NULL THEN kind := current_setting('ablo.op_type'); END IF;
      INSERT INTO ablo_outbox ("cursor", {OUTBOX_COLUMNS}) VALUES (
        next_position,
        CASE WHEN tx IS NULL THEN 'ext:' || next_position ELSE tx || ':' || current_setting('ablo.op_index') END,
        {sql_text(model.key)}, entity, kind, row_data, org, tx,
        (extract(epoch FROM clock_timestamp()) * 1000)::bigint);
      PERFORM pg_notify('ablo_outbox', '');
      RETURN NULL;
    END
    $body$"""


class PostgresBacking(Backing):
    """psycopg2 with a small thread-safe pool; READ COMMITTED, the ledger key serialises duplicates."""

    placeholder = "%s"

    def __init__(self, models, url, max_connections=16):
        super().__init__(models)
        import psycopg2  # lazily: the SQLite backing must work without it
        import psycopg2.extras
        import psycopg2.pool
        self.psycopg2 = psycopg2
        self.extras = psycopg2.extras
        self.pool = psycopg2.pool.ThreadedConnectionPool(1, max_connections, url)
        self.pool_slots = threading.BoundedSemaphore(max_connections)  # wait instead of "pool exhausted"

    def close(self):
        self.pool.closeall()

    @contextmanager
    def connection(self):
        with self.pool_slots:
            conn = self.pool.getconn()
            try:
                yield conn
            finally:
                self.release(conn)

    def release(self, conn):
        """Back to the pool with no open transaction; a broken connection is closed instead."""
        try:
            if not conn.closed:
                conn.rollback()
        except self.psycopg2.Error:
            pass
        self.pool.putconn(conn, close=bool(conn.closed))

    def setup(self):
        with self.connection() as conn:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(hashtext('ablo_source_endpoint_setup'))")
                for statement in PG_ADAPTER_TABLES:
                    cur.execute(statement)
                for model in self.models.values():
                    self.create_model_table(cur, model)
            conn.commit()

    def create_model_table(self, cur, model):
        table = quote(model.table)
        cur.execute(f"""CREATE TABLE IF NOT EXISTS {table} (
            id TEXT PRIMARY KEY,
            created_by TEXT,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            archived_at TIMESTAMPTZ)""")
        for field in model.fields.values():
            if field.column in ("id", "created_by", "created_at", "updated_at", "archived_at"):
                continue
            cur.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {quote(field.column)} {PG_TYPES[field.type]}")
            if field.type == "enum" and field.enum_values:
                self.add_enum_check(cur, model, field)
        cur.execute(pg_trigger_function_sql(model))
        trigger = quote(f"ablo_outbox_{model.table}")
        cur.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
        cur.execute(f"CREATE TRIGGER {trigger} AFTER INSERT OR UPDATE OR DELETE ON {table} "
                    f"FOR EACH ROW EXECUTE FUNCTION {quote('ablo_outbox_capture_' + model.table)}()")

    def add_enum_check(self, cur, model, field):
        name = f"{model.table}_{field.column}_enum"
        allowed = ", ".join(sql_text(value) for value in field.enum_values)
        cur.execute(f"""DO $do$ BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = {sql_text(name)}) THEN
              ALTER TABLE {quote(model.table)} ADD CONSTRAINT {quote(name)} CHECK ({quote(field.column)} IN ({allowed}));
            END IF; END $do$""")

    @contextmanager
    def read_connection(self):
        with self.connection() as conn:
            conn.autocommit = False
            yield conn

    @contextmanager
    def write_transaction(self, client_tx_id):
        with self.connection() as conn:
            try:
                # Identical clientTxIds wait for each other, so the second one finds the ledger row.
                self.execute(conn, "SELECT pg_advisory_xact_lock(hashtext(?)) AS locked", (client_tx_id,))
                yield conn
                conn.commit()
            except BaseException:
                conn.rollback()
                raise

    def execute(self, conn, sql, params=()):
        with conn.cursor(cursor_factory=self.extras.RealDictCursor) as cur:
            cur.execute(self.sql(sql), list(params))
            return [dict(row) for row in cur.fetchall()] if cur.description else []

    def set_write_context(self, conn, client_tx_id, operation):
        self.execute(conn, "SELECT set_config('ablo.client_tx_id', ?, true), set_config('ablo.op_index', ?, true), "
                           "set_config('ablo.op_type', ?, true)", (client_tx_id, str(operation.index), operation.type))

    def clear_write_context(self, conn):
        self.execute(conn, "SELECT set_config('ablo.client_tx_id', '', true)")

    def is_unique_violation(self, error):
        return getattr(error, "pgcode", None) == "23505"

    def like_sql(self, column, operator, value):
        negate = "NOT " if operator.startswith("NOT") else ""
        keyword = "ILIKE" if operator.endswith("ILIKE") else "LIKE"
        return f"{negate}({column}::text {keyword} ?)", [value]

    def to_db(self, field, value):
        if value is not None and field.type == "json":
            return self.extras.Json(value)
        return value

    def from_db(self, field, value):
        if value is None:
            return None
        if field.type == "date" and hasattr(value, "astimezone"):
            return format_timestamp(value)
        return normalise_number(value) if field.type == "number" else value

    def cursor_value(self, value):
        return format_timestamp(value) if hasattr(value, "astimezone") else value


def open_backing(models, database):
    """``sqlite:PATH`` or ``postgres://…`` / ``postgresql://…``."""
    if database.startswith("sqlite:"):
        return SqliteBacking(models, database[len("sqlite:"):])
    if database.startswith(("postgres://", "postgresql://")):
        return PostgresBacking(models, database)
    raise ValueError(f"--database must be sqlite:PATH or postgres://URL, got {database!r}")
