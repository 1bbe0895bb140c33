#!/usr/bin/env python3
"""gen-error-registry.py [--client] [--check] [REGISTRY_JSON]: writes src/errors/registry_table.inc.

The table holds the wire-surface codes of the 0.9.1 client's error registry; the server may
send no other code (common/error_code.h rejects any other literal at compile time). With
--client it writes src/sdk/client_codes.inc instead: the client-surface codes, which only the
native client library (src/sdk) raises itself and the server never sends. With --check nothing
is written: the exit status says whether the checked-in table (the one the other flags select)
is in sync (0), out of sync (1) or the registry file is absent (77, a skipped test).
"""
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
TABLE = ROOT / "src" / "errors" / "registry_table.inc"
CLIENT_TABLE = ROOT / "src" / "sdk" / "client_codes.inc"
DEFAULT_REGISTRY = ROOT.parent / "shared" / "reference" / "errors-0.9.1.json"


def c_string(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render(registry):
    lines = [
        "// Generated once from ../shared/reference/errors-0.9.1.json (contract version {}):".format(registry["version"]),
        "// the wire-surface codes of the 0.9.1 registry. Data, not logic: edit by regenerating.",
        "// Columns: code, category, HTTP status, retryable, default message.",
    ]
    for spec in sorted((c for c in registry["codes"] if c["surface"] == "wire"), key=lambda c: c["code"]):
        lines.append("ABLO_ERROR({}, {}, {}, {}, {})".format(
            c_string(spec["code"]), c_string(spec["category"]), spec["httpStatus"],
            "true" if spec["retryable"] else "false", c_string(spec["message"])))
    return "\n".join(lines) + "\n"


def render_client(registry):
    # Client-surface codes carry no HTTP status: the library raises them locally.
    lines = [
        "// Generated from ../shared/reference/errors-0.9.1.json (contract version {}) by".format(registry["version"]),
        "// scripts/gen-error-registry.py --client: the client-surface codes of the 0.9.1 registry, which",
        "// only the native client library raises (never sent by the server). Data, not logic: edit by regenerating.",
        "// Columns: code, category, retryable, default message.",
    ]
    for spec in sorted((c for c in registry["codes"] if c["surface"] == "client"), key=lambda c: c["code"]):
        lines.append("ABLO_CLIENT_ERROR({}, {}, {}, {})".format(
            c_string(spec["code"]), c_string(spec["category"]),
            "true" if spec["retryable"] else "false", c_string(spec["message"])))
    return "\n".join(lines) + "\n"


def main(argv):
    check = "--check" in argv
    client = "--client" in argv
    paths = [a for a in argv if a not in ("--check", "--client")]
    table = CLIENT_TABLE if client else TABLE
    registry_path = pathlib.Path(paths[0]) if paths else DEFAULT_REGISTRY
    if not registry_path.exists():
        print(f"registry {registry_path} not found", file=sys.stderr)
        return 77 if check else 2
    registry = json.loads(registry_path.read_text(encoding="utf-8"))
    wanted = render_client(registry) if client else render(registry)
    if check:
        if table.exists() and table.read_text(encoding="utf-8") == wanted:
            return 0
        regenerate = "scripts/gen-error-registry.py" + (" --client" if client else "")
        print(f"{table} is out of sync with {registry_path}: run {regenerate}", file=sys.stderr)
        return 1
    table.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
