# ruff: noqa: INP001 - a stand-alone script, not part of a package
"""Write the shipped JSON Schema of event schema v1 from ``laptime.events.json_schema()``.

    python scripts/gen_schema.py          # regenerate src/laptime/schema/events-v1.schema.json
    python scripts/gen_schema.py --check  # exit 1 if the shipped file is out of date

Run it after changing anything in ``src/laptime/events.py`` (docstrings included: they
become the schema's descriptions). ``tests/test_events.py`` fails while the two differ.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from laptime.events import SCHEMA_FILE, json_schema

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "src" / "laptime" / "schema" / SCHEMA_FILE


def render() -> str:
    """The schema file's exact text: pretty-printed, keys sorted, newline-terminated."""
    return json.dumps(json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gen_schema.py",
        description=f"Write the shipped JSON Schema of event schema v1 ({SCHEMA_PATH.name}) from laptime.events.",
        epilog="example: python scripts/gen_schema.py --check",
    )
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if the shipped file differs from the generated one"
    )
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)  # --help prints and exits 0; an unknown flag exits 2
    text = render()
    if args.check:
        current = SCHEMA_PATH.read_text(encoding="utf-8") if SCHEMA_PATH.exists() else ""
        if current != text:
            print(f"{SCHEMA_PATH} is out of date; run: python scripts/gen_schema.py", file=sys.stderr)
            return 1
        print(f"{SCHEMA_PATH} is up to date")
        return 0
    SCHEMA_PATH.parent.mkdir(parents=True, exist_ok=True)
    SCHEMA_PATH.write_text(text, encoding="utf-8", newline="\n")
    print(f"wrote {SCHEMA_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
