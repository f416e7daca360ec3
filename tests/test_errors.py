"""One error tree: every error laptime raises on purpose descends from LaptimeError, and the CLI
maps them to a message and an exit code in one place (laptime.cli.RootGroup)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from helpers import invoke, record_simple_run
from laptime import errors
from laptime.analysis.kpi import RunLookupError
from laptime.analysis.usage import UsageQueryError
from laptime.config import ConfigError
from laptime.importers import UnknownFormatError
from laptime.index import IndexOpenError
from laptime.retention import MaintenanceBusyError
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
