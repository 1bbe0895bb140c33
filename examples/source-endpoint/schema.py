"""The Ablo schema JSON (v3, schema.md §2) reduced to what a Data Source backing needs.

Naming follows the provisioner (schema.md §3.2) so tables made here and by
``ablo migrate`` agree: table = ``tableName`` or the model key verbatim;
column = the field's explicit ``column`` or ``camelToSnake(field)``.  Every
table also gets ``id``, ``created_by``, ``created_at``, ``updated_at``, ``archived_at`` and,
for tenancy ``column`` models, the tenancy column exposed as field
``organizationId``.  Rows on the wire are always field-keyed (camelCase).
"""

import json
import re
from dataclasses import dataclass, field as dataclass_field

FIELD_TYPES = ("string", "number", "boolean", "date", "enum", "json")


def camel_to_snake(name):
    """``projectId`` → ``project_id`` (each capital A–Z becomes ``_`` + lower case)."""
    return re.sub(r"[A-Z]", lambda m: "_" + m.group(0).lower(), name)


@dataclass
class Field:
    name: str
    column: str
    type: str
    optional: bool = True
    enum_values: tuple = ()


@dataclass
class Model:
    key: str
    table: str
    fields: dict = dataclass_field(default_factory=dict)  # field name → Field, base fields first

    def column_of(self, field_name):
        return self.fields[field_name].column

    def field_by_column(self):
        return {f.column: f for f in self.fields.values()}


def _base_fields(tenancy_column):
    fields = [Field("id", "id", "string", optional=False)]
    if tenancy_column:
        fields.append(Field("organizationId", tenancy_column, "string"))
    # Ablo owns these and may send them in a commit's input; absent ones get defaults (now / null).
    fields += [
        Field("createdBy", "created_by", "string"),
        Field("createdAt", "created_at", "date"),
        Field("updatedAt", "updated_at", "date"),
        Field("archivedAt", "archived_at", "date"),
    ]
    return fields


def _parse_field(name, meta):
    kind = meta.get("type")
    if kind not in FIELD_TYPES:
        # Arrays, records and unions serialize as "json"; anything unknown is stored the same way.
        kind = "json"
    optional = meta.get("isOptional", meta.get("optional", False))
    values = tuple(meta.get("enumValues", meta.get("values", ())) or ())
    return Field(name, meta.get("column") or camel_to_snake(name), kind, bool(optional), values)


def _parse_model(key, meta):
    tenancy = meta.get("tenancy") or {"kind": "column", "column": "organization_id"}
    tenancy_column = tenancy.get("column", "organization_id") if tenancy.get("kind") == "column" else None
    model = Model(key=key, table=meta.get("tableName") or key)
    for base in _base_fields(tenancy_column):
        model.fields[base.name] = base
    taken_columns = {f.column for f in model.fields.values()}
    for name, field_meta in (meta.get("fields") or {}).items():
        parsed = _parse_field(name, field_meta)
        if name in model.fields or parsed.column in taken_columns:
            continue  # base columns win, as in the provisioner
        model.fields[name] = parsed
        taken_columns.add(parsed.column)
    return model


def parse_schema(document):
    """Models keyed by model key; control-plane models are skipped like the provisioner does."""
    models = {}
    for key, meta in (document.get("models") or {}).items():
        if meta.get("plane") == "control":
            continue
        models[key] = _parse_model(key, meta)
    if not models:
        raise ValueError("schema has no models")
    return models


def load_schema(path):
    with open(path, encoding="utf-8") as handle:
        return parse_schema(json.load(handle))
