"""One error tree: every error laptime raises on purpose descends from LaptimeError, and the CLI
maps them to a message and an exit code in one place (laptime.cli.RootGroup)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from helpers import invoke, record_simple_run
from laptime import errors
from laptime.analysis.kpi import RunLookupError
from laptime.analysis.usage import UsageQueryError
from laptime.config import ConfigError
from laptime.importers import UnknownFormatError
from laptime.index import IndexOpenError
from laptime.retention import CompactWriteError, MaintenanceBusyError
from laptime.store import StoreError

if TYPE_CHECKING:
    from laptime.store import Store


class TestTree:
    @pytest.mark.parametrize(
        ("error", "branch", "builtin"),
        [
            (ConfigError, errors.UsageError, Exception),
            (StoreError, errors.UsageError, Exception),
            (RunLookupError, errors.UsageError, LookupError),
            (UsageQueryError, errors.UsageError, ValueError),
            (UnknownFormatError, errors.UsageError, LookupError),
            (IndexOpenError, errors.StoreFaultError, Exception),
            (MaintenanceBusyError, errors.StoreFaultError, Exception),
            (CompactWriteError, errors.StoreFaultError, Exception),
        ],
    )
    def test_every_error_has_one_root_and_keeps_its_builtin_base(
        self, error: type[Exception], branch: type[errors.LaptimeError], builtin: type[Exception]
    ) -> None:
        assert issubclass(error, branch)
        assert issubclass(error, errors.LaptimeError)
        assert issubclass(error, builtin)

    def test_exit_codes(self) -> None:
        assert errors.UsageError.exit_code == 2
        assert errors.StoreFaultError.exit_code == 1


class TestCliMapping:
    def test_a_usage_error_exits_2_with_its_message(self, store: Store) -> None:
        record_simple_run(store, "r1")
        result = invoke(store.root, "report", "show", "nope")
        assert result.exit_code == 2
        assert result.stderr == "Error: no run matches 'nope'; `laptime report list` shows the recorded runs\n"

    def test_a_store_fault_exits_1_with_its_message(self, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
        record_simple_run(store, "r1")

        def busy(*_args: object, **_kwargs: object) -> None:
            msg = "another laptime maintenance command is running; try again when it has finished"
            raise MaintenanceBusyError(msg)

        monkeypatch.setattr("laptime.retention.compact", busy)
        result = invoke(store.root, "compact")
        assert result.exit_code == 1
        assert result.stderr == (
            "Error: another laptime maintenance command is running; try again when it has finished\n"
        )

    def test_an_unexpected_exception_is_one_line_and_exit_1(
        self, store: Store, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        record_simple_run(store, "r1")

        def broken(*_args: object, **_kwargs: object) -> None:
            msg = "boom"
            raise TypeError(msg)

        monkeypatch.delenv("LAPTIME_DEBUG", raising=False)
        monkeypatch.setattr("laptime.analysis.kpi.compute_kpi", broken)
        result = invoke(store.root, "report")
        assert result.exit_code == 1
        assert "Traceback" not in result.output
        lines = result.stderr.splitlines()
        assert len(lines) == 1
        assert lines[0].startswith("Error: unexpected error in report: TypeError: boom. This is a bug in laptime;")
        assert "LAPTIME_DEBUG=1" in lines[0]

    def test_laptime_debug_shows_the_traceback(self, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
        record_simple_run(store, "r1")

        def broken(*_args: object, **_kwargs: object) -> None:
            msg = "boom"
            raise TypeError(msg)

        monkeypatch.setenv("LAPTIME_DEBUG", "1")
        monkeypatch.setattr("laptime.analysis.kpi.compute_kpi", broken)
        result = invoke(store.root, "report")
        assert result.exit_code == 1
        assert isinstance(result.exception, TypeError)  # not caught: click's runner holds it


class TestNoTraceback:
    def test_a_path_component_longer_than_255_bytes(self, tmp_path: Path) -> None:
        home = tmp_path / ("a" * 300)
        result = invoke(home, "report")
        assert result.exit_code == 1
        assert result.stderr == f"Error: {home}: File name too long\n"

    def test_an_import_path_too_long(self, store: Store, tmp_path: Path) -> None:
        result = invoke(store.root, "import", "runr", str(tmp_path / ("b" * 300)))
        assert "Traceback" not in result.output
        assert result.exit_code in (1, 2)
        assert str(tmp_path / ("b" * 300)) in result.stderr

    @pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs util-linux setpriv to drop root's capabilities")
    def test_an_unreadable_file_on_the_command_line_is_a_warning_and_exit_1(self, tmp_path: Path) -> None:
        report = tmp_path / "run-12345678.json"
        report.write_text("{}", encoding="utf-8")
        report.chmod(0)
        laptime = [sys.executable, "-m", "laptime"]
        drop = [
            "setpriv",
            "--bounding-set",
            "-dac_override,-dac_read_search",
            "--inh-caps",
            "-dac_override,-dac_read_search",
        ]
        home = tmp_path / ".laptime"
        done = subprocess.run(
            [*drop, *laptime, "--home", str(home), "import", "aidf", str(report)],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if "Operation not permitted" in done.stderr and "setpriv" in done.stderr:
            pytest.skip("the kernel refused to drop the capabilities")
        assert done.returncode == 1, done.stderr
        assert f"warning: {report}: permission denied" in done.stderr
        assert "Traceback" not in done.stderr
