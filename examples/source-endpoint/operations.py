"""Validation and normalisation of what the Data Source requests carry (datasource.md §1.5).

Everything a backing writes or filters by passes through here first, so the
backings only ever see known models, known fields and values of the declared
type.  Errors are ``SourceError``s carrying the HTTP status and JSON body the
endpoint answers with.
"""

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone

OPERATION_TYPES = ("CREATE", "UPDATE", "DELETE", "ARCHIVE", "UNARCHIVE")
LIST_OPERATORS = ("=", "!=", "<", "<=", ">", ">=", "IN", "NOT IN", "IS", "IS NOT",
                  "LIKE", "NOT LIKE", "ILIKE", "NOT ILIKE")
DEFAULT_LIST_LIMIT = 1000
MAX_LIST_LIMIT = 5000
DEFAULT_EVENTS_LIMIT = 100
MAX_EVENTS_LIMIT = 1000


class SourceError(Exception):
    """A request the endpoint refuses: ``status`` and the JSON ``body`` to answer with."""

    def __init__(self, status, error, message=None, **extra):
        super().__init__(message or error)
        self.status = status
        self.body = {"error": error}
        if message is not None:
            self.body["message"] = message
        self.body.update(extra)


def invalid_commit(message):
    return SourceError(400, "source_commit_invalid", message)


def invalid_request(message):
    return SourceError(400, "source_request_invalid", message)


def iso_now():
    return format_timestamp(datetime.now(timezone.utc))


def format_timestamp(moment):
    """ISO-8601 UTC with milliseconds and ``Z``: one spelling for both backings and the triggers."""
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_date(value):
    """A date field value (ISO-8601 text or epoch milliseconds) as the canonical ISO text."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a date")
    if isinstance(value, (int, float)):
        return format_timestamp(datetime.fromtimestamp(value / 1000, timezone.utc))
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return format_timestamp(moment)


def check_value(field, value):
    """The value normalised for ``field``; ValueError with a reason when it does not fit the type."""
    if value is None:
        if not field.optional:
            raise ValueError("must not be null")
        return None
    kind = field.type
    if kind in ("string", "enum"):
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {type_name(value)}")
        if kind == "enum" and field.enum_values and value not in field.enum_values:
            raise ValueError(f"expected one of {list(field.enum_values)}, got {value!r}")
        return value
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"expected a number, got {type_name(value)}")
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise ValueError(f"expected a boolean, got {type_name(value)}")
        return value
    if kind == "date":
        try:
            return parse_date(value)
        except (TypeError, ValueError, OverflowError, OSError):
            raise ValueError(f"expected an ISO-8601 date or epoch milliseconds, got {value!r}") from None
    return value  # json: any JSON value


def type_name(value):
    return {dict: "object", list: "array", str: "string", bool: "boolean",
            int: "number", float: "number", type(None): "null"}.get(type(value), type(value).__name__)


@dataclass
class Operation:
    index: int
    type: str
    model: object  # schema.Model
    id: str
    input: dict  # field name → normalised value (never id)


def _operation_id(raw, index):
    op_id = raw.get("id")
    if op_id is None and isinstance(raw.get("input"), dict):
        op_id = raw["input"].get("id")
    if not isinstance(op_id, str) or not op_id:
        raise invalid_commit(f"operations[{index}] on \"{raw.get('model')}\" requires an id")
    return op_id


def _operation_input(raw, model, index, op_id):
    raw_input = raw.get("input")
    if raw_input is None:
        return {}
    if not isinstance(raw_input, dict):
        raise invalid_commit(f"operations[{index}].input must be an object")
    values = {}
    for name, value in raw_input.items():
        if name == "id":
            if value != op_id:
                raise invalid_commit(f"operations[{index}].input.id differs from the operation id")
            continue
        field = model.fields.get(name)
        if field is None:
            raise invalid_commit(f"operations[{index}].input: unknown field \"{name}\" on model \"{model.key}\"")
        try:
            values[name] = check_value(field, value)
        except ValueError as reason:
            raise invalid_commit(f"operations[{index}].input.{name}: {reason}") from None
    return values


def parse_operation(models, raw, index):
    if not isinstance(raw, dict):
        raise invalid_commit(f"operations[{index}] must be an object")
    if raw.get("type") not in OPERATION_TYPES:
        raise invalid_commit(f"operations[{index}].type must be one of {list(OPERATION_TYPES)}")
    model_key = raw.get("model")
    if not isinstance(model_key, str) or not model_key:
        raise invalid_commit(f"operations[{index}].model must be a non-empty string")
    if model_key not in models:
        raise invalid_commit(f"operations[{index}].model: unknown model \"{model_key}\"")
    model = models[model_key]
    op_id = _operation_id(raw, index)
    return Operation(index, raw["type"], model, op_id, _operation_input(raw, model, index, op_id))


def parse_change_set(models, body):
    """``(client_tx_id, [Operation])`` of a commit body, or the §1.4 adapter-path 400s."""
    client_tx_id = body.get("clientTxId")
    if not isinstance(client_tx_id, str) or not client_tx_id:
        raise SourceError(400, "source_commit_requires_client_tx_id", "commit requires a non-empty clientTxId")
    operations = body.get("operations")
    if not isinstance(operations, list) or not operations:
        raise invalid_commit("operations must be a non-empty array")
    return client_tx_id, [parse_operation(models, raw, i) for i, raw in enumerate(operations)]


def intent_hash(operations):
    """SHA-256 of the normalised operations: what a replay must repeat to be a replay (0.49 idempotency)."""
    canonical = [[op.type, op.model.key, op.id, op.input] for op in operations]
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- reads -------------------------------------------------------------------------------

def require_model(models, body):
    key = body.get("model")
    if not isinstance(key, str) or key not in models:
        raise invalid_request(f"unknown model {key!r}")
    return models[key]


def require_field(model, name):
    field = model.fields.get(name) if isinstance(name, str) else None
    if field is None:
        raise invalid_request(f"unknown field {name!r} on model \"{model.key}\"")
    return field


@dataclass
class Condition:
    field: object  # schema.Field
    operator: str
    value: object


def _filter_value(field, operator, value):
    """Normalises dates so text comparison in SQLite orders them; other values pass unchanged."""
    if operator in ("IN", "NOT IN"):
        if not isinstance(value, list):
            raise invalid_request(f"{operator} on \"{field.name}\" needs an array")
        return [_filter_value(field, "=", item) for item in value]
    if field.type == "date" and value is not None and operator not in ("LIKE", "NOT LIKE", "ILIKE", "NOT ILIKE"):
        try:
            return parse_date(value)
        except (TypeError, ValueError, OverflowError, OSError):
            raise invalid_request(f"\"{field.name}\" compares against a date, got {value!r}") from None
    if isinstance(value, (dict, list)):
        raise invalid_request(f"\"{field.name}\" {operator} needs a scalar value")
    return value


def parse_where(model, where):
    if where is None:
        return []
    if not isinstance(where, list):
        raise invalid_request("query.where must be an array of tuples")
    conditions = []
    for clause in where:
        if not isinstance(clause, list) or len(clause) not in (2, 3):
            raise invalid_request(f"where clause {clause!r} must be [field, value] or [field, op, value]")
        name, operator, value = (clause[0], "=", clause[1]) if len(clause) == 2 else clause
        if not isinstance(operator, str) or operator.upper() not in LIST_OPERATORS:
            raise invalid_request(f"unknown where operator {operator!r}")
        operator = operator.upper()
        field = require_field(model, name)
        conditions.append(Condition(field, operator, _filter_value(field, operator, value)))
    return conditions


def parse_limit(value, default, maximum, what):
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value < 1:
        raise invalid_request(f"{what} limit must be a positive integer")
    return min(int(value), maximum)


@dataclass
class ListQuery:
    conditions: list
    order_field: object  # schema.Field
    descending: bool
    limit: int
    after: object  # (order value, id) from the cursor, or None


def encode_list_cursor(order_field, descending, value, row_id):
    text = json.dumps([order_field.name, descending, value, row_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii").rstrip("=")


def decode_list_cursor(cursor, order_field, descending):
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        name, desc, value, row_id = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, TypeError, UnicodeError):
        raise invalid_request("query.cursor is not a cursor this endpoint issued") from None
    if name != order_field.name or desc != descending:
        raise invalid_request("query.cursor belongs to a different orderBy/order")
    return value, row_id


def parse_list_query(model, query):
    if query is None:
        query = {}
    if not isinstance(query, dict):
        raise invalid_request("query must be an object")
    order_field = require_field(model, query.get("orderBy") or "id")
    order = str(query.get("order") or "asc").lower()
    if order not in ("asc", "desc"):
        raise invalid_request("query.order must be asc or desc")
    descending = order == "desc"
    cursor = query.get("cursor")
    after = None
    if cursor not in (None, ""):
        if not isinstance(cursor, str):
            raise invalid_request("query.cursor must be a string")
        after = decode_list_cursor(cursor, order_field, descending)
    limit = parse_limit(query.get("limit"), DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, "list")
    return ListQuery(parse_where(model, query.get("where")), order_field, descending, limit, after)


def parse_events_request(body):
    """``(after, limit)``: the cursor must be decimal digits so it compares as a number, never as text."""
    cursor = body.get("cursor")
    if cursor is None or cursor == "":
        after = 0
    elif isinstance(cursor, str) and cursor.isascii() and cursor.isdigit():
        after = int(cursor)
    elif isinstance(cursor, int) and not isinstance(cursor, bool) and cursor >= 0:
        after = cursor
    else:
        raise SourceError(400, "source_events_invalid_cursor", f"events cursor must be a decimal string, got {cursor!r}")
    return after, parse_limit(body.get("limit"), DEFAULT_EVENTS_LIMIT, MAX_EVENTS_LIMIT, "events")
