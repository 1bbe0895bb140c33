#!/usr/bin/env python3
"""gen-error-registry.py [--check] [REGISTRY_JSON]: writes src/errors/registry_table.inc.

The table holds the wire-surface codes of the 0.9.1 client's error registry; the server may
send no other code (common/error_code.h rejects any other literal at compile time). With
--check nothing is written: the exit status says whether the checked-in table is in sync
(0), out of sync (1) or the registry file is absent (77, a skipped test).
"""
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
TABLE = ROOT / "src" / "errors" / "registry_table.inc"
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


def main(argv):
    check = "--check" in argv
    paths = [a for a in argv if a != "--check"]
    registry_path = pathlib.Path(paths[0]) if paths else DEFAULT_REGISTRY
    if not registry_path.exists():
        print(f"registry {registry_path} not found", file=sys.stderr)
        return 77 if check else 2
    wanted = render(json.loads(registry_path.read_text(encoding="utf-8")))
    if check:
        if TABLE.read_text(encoding="utf-8") == wanted:
            return 0
        print(f"{TABLE} is out of sync with {registry_path}: run scripts/gen-error-registry.py", file=sys.stderr)
        return 1
    TABLE.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
