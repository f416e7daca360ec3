"""``laptime exec`` (issue 11, line 3): a command as a span, everything passed through.

Every test runs the real ``laptime`` in a subprocess on a store in tmp_path, with real
child processes: exit codes, deaths by signal, forwarded signals, stdin and binary
output, 127/126, nesting, joining a run, and a read-only store.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from laptime.index import Index
from laptime.recorder import Recorder

if TYPE_CHECKING:
    from laptime.store import Store

BIN = Path(sys.executable).parent
LAPTIME = BIN / "laptime"
PY = sys.executable


def env_for(store: Store, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LAPTIME_RUN_ID", "LAPTIME_SPAN_ID")}
    env["LAPTIME_HOME"] = str(store.root)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # a nested `laptime` is this one
    env.update(extra)
    return env


def lt(store: Store, *args: str, stdin: bytes = b"", **extra: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [str(LAPTIME), *args], input=stdin, capture_output=True, env=env_for(store, **extra), timeout=120, check=False
    )


def py(code: str) -> list[str]:
    return [PY, "-c", code]


def query(store: Store, sql: str) -> list[dict[str, Any]]:
    with Index(store) as index:
        index.update()
        return index.query_dicts(sql)


def exec_spans(store: Store) -> list[dict[str, Any]]:
    rows = query(
        store,
        "SELECT span_id, run_id, parent_id, kind, name, outcome, attrs, end_attrs, end_us - start_us AS us "
        "FROM spans WHERE kind != 'run' ORDER BY start_us, span_id",
    )
    for row in rows:
        row["attrs"] = json.loads(row["attrs"] or "{}")
        row["end_attrs"] = json.loads(row["end_attrs"] or "{}")
    return rows


def runs(store: Store) -> list[dict[str, Any]]:
    return query(store, "SELECT run_id, name, outcome, end_attrs FROM runs ORDER BY started_us")


class TestExitStatus:
    @pytest.mark.parametrize("code", [0, 1, 42])
    def test_the_exit_code_is_the_commands_and_is_recorded(self, store: Store, code: int) -> None:
        done = lt(store, "exec", "--", *py(f"import sys; sys.exit({code})"))
        assert (done.returncode, done.stdout, done.stderr) == (code, b"", b"")
        [span] = exec_spans(store)
        assert span["kind"] == "task"
        assert span["end_attrs"] == {"exit_code": code, "status": code}
        assert span["outcome"] == ("completed" if code == 0 else "failed")
        assert span["attrs"]["argv"] == py(f"import sys; sys.exit({code})")
        [run] = runs(store)
        assert (run["name"], run["outcome"]) == (Path(PY).name, "completed" if code == 0 else "failed")
        assert span["run_id"] == run["run_id"] == span["parent_id"]

    def test_a_command_killed_by_sigkill_kills_laptime_with_sigkill(self, store: Store) -> None:
        done = lt(store, "exec", "--", *py("import os, signal; os.kill(os.getpid(), signal.SIGKILL)"))
        assert done.returncode == -signal.SIGKILL
        assert done.stderr == b""
        [span] = exec_spans(store)
        assert span["end_attrs"] == {"exit_code": None, "status": 128 + 9, "signal": "SIGKILL"}
        assert span["outcome"] == "failed"

    def test_a_command_killed_by_sigterm_kills_laptime_with_sigterm_and_stops_the_run(self, store: Store) -> None:
        done = lt(store, "exec", "--", *py("import os, signal; os.kill(os.getpid(), signal.SIGTERM)"))
        assert done.returncode == -signal.SIGTERM
        [span] = exec_spans(store)
        assert span["end_attrs"] == {"exit_code": None, "status": 128 + 15, "signal": "SIGTERM"}
        assert span["outcome"] == "stopped"
        assert runs(store)[0]["outcome"] == "stopped"

    def test_through_a_shell_the_status_is_128_plus_n(self, store: Store) -> None:
        script = f"'{LAPTIME}' exec -- sh -c 'kill -KILL $$'; echo \"status=$?\""
        done = subprocess.run(["sh", "-c", script], capture_output=True, env=env_for(store), timeout=60, check=False)
        assert done.stdout.splitlines()[-1] == b"status=137"

    def test_a_command_not_found_exits_127_with_one_line(self, store: Store) -> None:
        done = lt(store, "exec", "no-such-command-xyz", "arg")
        assert (done.returncode, done.stdout) == (127, b"")
        assert done.stderr == b"laptime exec: no-such-command-xyz: command not found\n"
        [span] = exec_spans(store)
        assert span["end_attrs"] == {"exit_code": None, "status": 127, "failure": "command not found"}
        assert span["outcome"] == "failed"

    def test_a_missing_path_exits_127(self, store: Store, tmp_path: Path) -> None:
        done = lt(store, "exec", str(tmp_path / "missing.sh"))
        assert done.returncode == 127
        assert done.stderr == f"laptime exec: {tmp_path / 'missing.sh'}: No such file or directory\n".encode()

    def test_a_file_that_is_not_executable_exits_126(self, store: Store, tmp_path: Path) -> None:
        script = tmp_path / "script.sh"
        script.write_text("echo hi\n")
        script.chmod(0o644)
        done = lt(store, "exec", str(script))
        assert (done.returncode, done.stdout) == (126, b"")
        assert done.stderr == f"laptime exec: {script}: Permission denied\n".encode()
        assert exec_spans(store)[0]["end_attrs"]["failure"] == "Permission denied"

    def test_a_folder_exits_126(self, store: Store, tmp_path: Path) -> None:
        done = lt(store, "exec", str(tmp_path))
        assert done.returncode == 126
        assert done.stderr == f"laptime exec: {tmp_path}: Permission denied\n".encode()


class TestPassThrough:
    def test_binary_stdin_reaches_the_command_and_its_output_comes_back_byte_for_byte(self, store: Store) -> None:
        data = bytes(range(256)) * 512 + b"\r\n\x00no newline at the end"
        code = (
            "import sys; d = sys.stdin.buffer.read(); sys.stdout.buffer.write(d); "
            "sys.stderr.buffer.write(d[::-1]); sys.exit(7)"
        )
        done = lt(store, "exec", "--", *py(code), stdin=data)
        assert done.returncode == 7
        assert done.stdout == data
        assert done.stderr == data[::-1]

    def test_the_command_inherits_the_descriptors_themselves(self, store: Store) -> None:
        # no pipe in between: the command's stdout is the very file laptime was given
        code = "import os; print(os.fstat(1).st_ino, os.fstat(0).st_ino)"
        with (store.root.parent / "out.txt").open("wb") as out, (store.root.parent / "out.txt").open("rb") as inp:
            subprocess.run(
                [str(LAPTIME), "exec", "--", *py(code)], stdin=inp, stdout=out, env=env_for(store), check=True
            )
            inode = os.fstat(out.fileno()).st_ino
        assert (store.root.parent / "out.txt").read_text().split() == [str(inode), str(inode)]

    def test_argv_passes_unchanged_options_and_all(self, store: Store) -> None:
        done = lt(store, "exec", *py("import sys, json; print(json.dumps(sys.argv[1:]))"), "--kind", "-x", "", "a b")
        assert json.loads(done.stdout) == ["--kind", "-x", "", "a b"]

    def test_the_command_sees_the_run_its_span_and_the_store(self, store: Store) -> None:
        code = (
            "import os; print(os.environ['LAPTIME_RUN_ID'], os.environ['LAPTIME_SPAN_ID'], os.environ['LAPTIME_HOME'])"
        )
        done = lt(store, "exec", "--", *py(code))
        run_id, span_id, home = done.stdout.decode().split()
        [span] = exec_spans(store)
        assert (run_id, span_id, home) == (span["run_id"], span["span_id"], str(store.root))


def start_waiting(store: Store, code: str) -> subprocess.Popen[bytes]:
    """laptime exec on a command that prints "ready" once its handlers are set."""
    proc = subprocess.Popen(
        [str(LAPTIME), "exec", "--", *py(code)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env_for(store)
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"
    return proc


HANDLES_SIGINT = (
    "import signal, sys, time\n"
    "def stop(n, f):\n    print('got', signal.Signals(n).name, flush=True); sys.exit(3)\n"
    "signal.signal(signal.SIGINT, stop)\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
    "sys.exit(99)\n"
)


class TestSignals:
    def test_sigint_to_laptime_reaches_the_command_and_its_exit_status_comes_back(self, store: Store) -> None:
        proc = start_waiting(store, HANDLES_SIGINT)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert (proc.returncode, out, err) == (3, b"got SIGINT\n", b"")
        [span] = exec_spans(store)
        assert span["end_attrs"] == {"exit_code": 3, "status": 3, "signals_forwarded": ["SIGINT"]}

    @pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT])
    def test_other_signals_are_forwarded_and_laptime_dies_of_the_same(self, store: Store, sig: int) -> None:
        proc = start_waiting(store, "import time; print('ready', flush=True); time.sleep(60)")
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
        assert (proc.returncode, out, err) == (-sig, b"", b"")
        [span] = exec_spans(store)
        name = signal.Signals(sig).name
        assert span["end_attrs"] == {
            "exit_code": None,
            "status": 128 + sig,
            "signal": name,
            "signals_forwarded": [name],
        }
        assert span["outcome"] == ("failed" if sig == signal.SIGQUIT else "stopped")

    def test_laptime_waits_for_a_command_that_ignores_sigterm(self, store: Store) -> None:
        code = (
            "import signal, sys, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "print('ready', flush=True)\nsys.stdin.readline()\nprint('done', flush=True)\n"
        )
        proc = subprocess.Popen(
            [str(LAPTIME), "exec", "--", *py(code)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env_for(store),
        )
        assert proc.stdout is not None
        assert proc.stdin is not None
        assert proc.stdout.readline() == b"ready\n"
        proc.send_signal(signal.SIGTERM)
        proc.stdin.write(b"go\n")
        proc.stdin.flush()
        out, err = proc.communicate(timeout=60)
        assert (proc.returncode, out, err) == (0, b"done\n", b"")
        assert exec_spans(store)[0]["end_attrs"]["signals_forwarded"] == ["SIGTERM"]


class TestRuns:
    def test_a_nested_exec_is_a_child_span_of_the_outer_one_in_the_same_run(self, store: Store) -> None:
        done = lt(store, "exec", "--name", "pipeline", "--", "laptime", "exec", "--kind", "tool", "--", *py("pass"))
        assert done.returncode == 0, done.stderr
        outer, inner = exec_spans(store)
        [run] = runs(store)
        assert run["name"] == "pipeline"
        assert outer["parent_id"] == run["run_id"]
        assert (inner["run_id"], inner["parent_id"], inner["kind"]) == (run["run_id"], outer["span_id"], "tool")

    def test_an_existing_run_named_in_the_environment_is_joined_not_ended(self, store: Store) -> None:
        with (
            Recorder(home=store.root) as rec,
            rec.run("agent", run_id="run-from-sdk") as run,
            run.phase("verify") as phase,
        ):
            assert phase.span_id is not None
            parent = phase.span_id
            done = lt(
                store, "exec", "--kind", "validation", "--", *py("pass"), LAPTIME_RUN_ID=run.id, LAPTIME_SPAN_ID=parent
            )
        assert done.returncode == 0, done.stderr
        assert [r["run_id"] for r in runs(store)] == ["run-from-sdk"]
        spans = exec_spans(store)
        assert [(s["kind"], s["parent_id"]) for s in spans] == [("phase", "run-from-sdk"), ("validation", parent)]
        ends = query(store, "SELECT COUNT(*) AS n FROM span_ends WHERE span = 'run-from-sdk'")
        assert ends == [{"n": 1}]  # the SDK's own end, none from laptime exec

    def test_run_flag_joins_a_run(self, store: Store) -> None:
        done = lt(store, "exec", "--run", "run-by-flag", "--", *py("pass"))
        assert done.returncode == 0, done.stderr
        [span] = exec_spans(store)
        assert (span["run_id"], span["parent_id"]) == ("run-by-flag", "run-by-flag")


class TestRecorded:
    def test_a_validation_span_has_its_kind_tier_exit_code_and_duration(self, store: Store) -> None:
        code = "import time, sys; time.sleep(0.3); sys.exit(1)"
        done = lt(store, "exec", "--kind", "validation", "--tier", "unit", "--attr", "suite=api", "--", *py(code))
        assert done.returncode == 1
        [span] = exec_spans(store)
        assert (span["kind"], span["outcome"], span["attrs"]["tier"], span["attrs"]["suite"]) == (
            "validation",
            "failed",
            "unit",
            "api",
        )
        assert span["end_attrs"]["exit_code"] == 1
        assert 300_000 <= span["us"] < 60_000_000
        [check] = query(store, "SELECT command, passed, exit_code, duration_ms, tier, parent FROM validations")
        assert (check["passed"], check["exit_code"], check["tier"], check["parent"]) == (0, 1, "unit", span["span_id"])
        assert check["command"] == span["name"]
        assert 300 <= check["duration_ms"] <= span["us"] / 1000

    def test_report_show_lists_the_span_and_the_validation(self, store: Store) -> None:
        lt(store, "exec", "--name", "checks", "--kind", "validation", "--tier", "fast", "--", "sh", "-c", "exit 2")
        run_id = runs(store)[0]["run_id"]
        shown = lt(store, "--no-color", "report", "show", run_id)
        assert shown.returncode == 0, shown.stderr
        text = shown.stdout.decode()
        spans = text.split("Spans (1)\n")[1].split("\n\n")[0].splitlines()
        assert re.fullmatch(r"sh -c 'exit 2'  validation +\d+ms  failed   \d\d:\d\d:\d\dZ", spans[2].rstrip())
        checks = text.split("Validations (1)\n")[1].split("\n\n")[0].splitlines()
        assert re.fullmatch(r"\d\d:\d\d:\d\dZ  sh -c 'exit 2'  FAILED     2  fast +\d+ms", checks[2].rstrip())


def unprivileged_on_read_only(store: Store, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    """``laptime ARGS...`` on a store without write bits, as a root that file permissions bind."""
    if shutil.which("setpriv") is None:
        pytest.skip("needs util-linux setpriv to drop root's capabilities")
    store.ensure()
    for path in [store.root, *store.root.rglob("*")]:
        path.chmod(path.stat().st_mode & ~0o222)
    drop = [
        "setpriv",
        "--bounding-set",
        "-dac_override,-dac_read_search",
        "--inh-caps",
        "-dac_override,-dac_read_search",
    ]
    done = subprocess.run(
        [*drop, str(LAPTIME), *args], input=stdin, capture_output=True, env=env_for(store), timeout=60, check=False
    )
    if b"setpriv:" in done.stderr:
        pytest.skip("the kernel refused to drop the capabilities")
    return done


class TestRecordingFailures:
    def test_a_read_only_store_warns_and_changes_nothing_else(self, store: Store) -> None:
        code = "import sys; sys.stdout.write(sys.stdin.read().upper()); sys.exit(5)"
        done = unprivileged_on_read_only(store, "exec", "--", *py(code), stdin=b"abc")
        assert (done.returncode, done.stdout) == (5, b"ABC")
        assert re.fullmatch(
            r"laptime exec: warning: laptime could not record events \(PermissionError: \[Errno 13\] Permission "
            rf"denied: '{re.escape(str(store.log_dir))}/\d{{4}}-\d\d-\d\d\.jsonl'\); your program continues\n",
            done.stderr.decode(),
        )
        assert not list(store.log_dir.glob("*.jsonl"))

    def test_an_event_on_a_read_only_store_is_an_error(self, store: Store) -> None:
        done = unprivileged_on_read_only(store, "event", "metric", "rows", "1", "--run", "r1")
        assert (done.returncode, done.stdout) == (1, b"")
        assert done.stderr.decode().startswith("Error: laptime could not record events (")
        assert not list(store.log_dir.glob("*.jsonl"))

    def test_a_store_path_that_is_a_file_is_a_usage_error_before_anything_runs(
        self, store: Store, tmp_path: Path
    ) -> None:
        blocker = tmp_path / "not-a-folder"
        blocker.write_text("x")
        done = lt(store, "exec", "--", *py("print('ran')"), LAPTIME_HOME=str(blocker))
        assert (done.returncode, done.stdout) == (2, b"")
        assert (
            done.stderr.decode().splitlines()[-1]
            == f"Error: Invalid value for '--home': Directory '{blocker}' is a file."
        )


class TestUsage:
    @pytest.mark.parametrize(
        ("args", "error"),
        [
            ([], "Error: Missing argument '[--] CMD [ARG]...'."),
            (["--kind", "llm", "true"], "Error: Invalid value for '--kind': 'llm' is not one of"),
            (["--tier", "unit", "true"], "Error: --tier is a validation's tier; give --kind validation with it"),
            (
                ["--kind", "validation", "--tier", "has space", "true"],
                (
                    "Error: Invalid value for '--tier': 'has space' is not a tier (letters, digits and -_.: only, "
                    "at most 64)"
                ),
            ),
            (["--attr", "novalue", "true"], "Error: Invalid value for '--attr': 'novalue' is not KEY=VALUE"),
            (
                ["--run", 'a"b', "true"],
                (
                    "Error: Invalid value for '--run': 'a\"b' is not a run or span id (letters, digits and -_.: only, "
                    "at most 200)"
                ),
            ),
            (
                ["--parent", "abc", "true"],
                "Error: --parent names a span of a run; give --run (or $LAPTIME_RUN_ID) with it",
            ),
        ],
    )
    def test_bad_flags_exit_2_naming_the_flag_and_run_nothing(self, store: Store, args: list[str], error: str) -> None:
        done = lt(store, "exec", *args)
        assert done.returncode == 2
        assert done.stdout == b""
        assert done.stderr.decode().splitlines()[-1].startswith(error)
        assert not store.exists() or not list(store.log_dir.glob("*.jsonl"))


COUNTS_SIGINT = (
    "import signal, sys, time\n"
    "got = []\n"
    "signal.signal(signal.SIGINT, lambda n, f: got.append(n))\n"
    "print('ready', flush=True)\n"
    "while not got:\n    time.sleep(0.01)\n"
    "time.sleep(1.0)\n"  # room for a second SIGINT, were laptime to send one
    "sys.exit(10 + len(got))\n"
)


class TestTerminal:
    def test_ctrl_c_on_the_terminal_reaches_the_command_once(self, store: Store) -> None:
        """The terminal sends SIGINT to its whole foreground group, laptime and the
        command alike; laptime must not send the command a second one."""
        import fcntl
        import pty
        import termios

        master, slave = pty.openpty()

        def take_the_terminal() -> None:  # in the child: a new session whose terminal is the pty
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        proc = subprocess.Popen(
            [str(LAPTIME), "exec", "--", *py(COUNTS_SIGINT)],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env_for(store),
            start_new_session=True,
            preexec_fn=take_the_terminal,  # noqa: PLW1509 - the one way to give it a controlling terminal
        )
        os.close(slave)
        try:
            seen = b""
            while b"ready" not in seen:
                seen += os.read(master, 1024)
            os.write(master, b"\x03")  # Ctrl-C
            assert proc.wait(timeout=60) == 11  # one SIGINT, not two
        finally:
            os.close(master)
            if proc.poll() is None:
                proc.kill()
        [span] = exec_spans(store)
        assert span["end_attrs"] == {"exit_code": 11, "status": 11}  # nothing forwarded


def test_a_removed_working_directory_still_runs_the_command(store: Store, tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    argv = [str(LAPTIME), "exec", "--", PY, "-c", "raise SystemExit(6)"]
    code = f"import os; os.chdir({str(gone)!r}); os.rmdir({str(gone)!r}); os.execv({argv[0]!r}, {argv!r})"
    done = subprocess.run(py(code), capture_output=True, env=env_for(store), timeout=60, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (6, b"", b"")
    [span] = exec_spans(store)
    assert "cwd" not in span["attrs"]
    assert span["end_attrs"]["exit_code"] == 6
