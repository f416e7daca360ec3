# ruff: noqa: INP001 - a stand-alone script, not part of a package
"""Write the shipped JSON Schemas of every command's ``--json`` output (``laptime.analysis.outputs``).

    python scripts/gen_output_schemas.py          # regenerate src/laptime/schema/output/*.schema.json
    python scripts/gen_output_schemas.py --check  # exit 1 if a shipped file is out of date or missing

Run it after changing a struct in ``laptime.analysis.results`` (docstrings included: they
become the schemas' descriptions). ``tests/test_output_schemas.py`` fails while they differ.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from laptime.analysis.outputs import ALL_OUTPUT_TYPES, SCHEMA_DIR, output_schema, schema_file

OUTPUT_DIR = Path(__file__).resolve().parents[1] / "src" / "laptime" / "schema" / SCHEMA_DIR


def render(command: str) -> str:
    """A schema file's exact text: pretty-printed, keys sorted, newline-terminated."""
    return json.dumps(output_schema(command), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def expected() -> dict[str, str]:
    """file name -> text, for every command."""
    return {schema_file(command): render(command) for command in ALL_OUTPUT_TYPES}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="gen_output_schemas.py",
        description=f"Write the JSON Schemas of every command's --json output into {OUTPUT_DIR}.",
        epilog="example: python scripts/gen_output_schemas.py --check",
    )
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file differs or is missing")
    args = parser.parse_args(argv)
    files = expected()
    if args.check:
        stale = [
            name
            for name, text in files.items()
            if not (OUTPUT_DIR / name).exists() or (OUTPUT_DIR / name).read_text(encoding="utf-8") != text
        ]
        extra = sorted(p.name for p in OUTPUT_DIR.glob("*.schema.json") if p.name not in files)
        if stale or extra:
            print(
                f"out of date: {', '.join(stale + extra)}; run: python scripts/gen_output_schemas.py", file=sys.stderr
            )
            return 1
        print(f"{len(files)} schemas in {OUTPUT_DIR} are up to date")
        return 0
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    for old in OUTPUT_DIR.glob("*.schema.json"):
        if old.name not in files:
            old.unlink()
    for name, text in files.items():
        (OUTPUT_DIR / name).write_text(text, encoding="utf-8", newline="\n")
    print(f"wrote {len(files)} schemas to {OUTPUT_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
