"""The dev environment is reproducible: every dev tool comes at an exact version from one lock file."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONSTRAINTS = REPO / "requirements" / "dev-constraints.txt"
PINNED = re.compile(r"^([A-Za-z0-9_.-]+)==(\S+)$")


def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for number, line in enumerate(CONSTRAINTS.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        match = PINNED.match(line)
        assert match, f"{CONSTRAINTS.name}:{number}: not an exact pin: {line!r}"
        pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    return pins


class TestDevConstraints:
    def test_every_dev_tool_and_dependency_is_pinned_exactly(self) -> None:
        pins = _pins()
        for tool in ("ruff", "mypy", "pytest", "hypothesis", "jsonschema", "msgspec", "apsw", "click", "genai-prices"):
            assert tool in pins, f"{tool} is not pinned in {CONSTRAINTS.name}"

    def test_make_and_ci_install_from_the_lock_file(self) -> None:
        makefile = (REPO / "Makefile").read_text(encoding="utf-8")
        assert "CONSTRAINTS := requirements/dev-constraints.txt" in makefile
        assert "pip install --quiet -c $(CONSTRAINTS) -e '.[dev]'" in makefile
        assert re.search(r"^PIP_VERSION := \d+(\.\d+)+$", makefile, re.MULTILINE)
        assert "make test" in (REPO / ".ci" / "run").read_text(encoding="utf-8")

    def test_ccusage_reference_is_pinned(self) -> None:
        makefile = (REPO / "Makefile").read_text(encoding="utf-8")
        assert "ccusage@20.0.24" in makefile
