"""Run webhooks (issue 12 line 1) against a real HTTP server on loopback: success, a 500
then success, a timeout, a refused connection, a slow receiver; the signature; retries
with backoff and jitter; delivery events and redelivery; and no secret anywhere."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from helpers import invoke
from laptime.config import load_config
from laptime.index import Index
from laptime.recorder import Recorder
from laptime.store import Store
from laptime.webhook import dispatch
from laptime.webhook.delivery import BACKOFF_BASE_S, BACKOFF_MAX_S, deliver
from laptime.webhook.redeliver import undelivered
from laptime.webhook.settings import WebhookConfigError, WebhookSettings, resolve
from laptime.webhook.signing import signature, verify

SECRET = "s3cr3t-signing-key-4f1c"  # noqa: S105 - a test secret, grepped for in everything laptime writes
TOKEN = "tok-9e2d7a61-bearer"  # noqa: S105 - likewise


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 that answers from a script of (status, delay)."""

    script: list[tuple[int, float]] = field(default_factory=list)
    default: tuple[int, float] = (200, 0.0)
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/laptime?key=query-token-77"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                state.requests.append((dict(self.headers.items()), body))
                status, delay = state.script.pop(0) if state.script else state.default
            time.sleep(delay)
            try:
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:
                pass  # the client gave up (a timeout test)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _configure(store: Store, url: str, **extra: str) -> None:
    store.root.mkdir(parents=True, exist_ok=True)
    settings = {"retries": "2", "timeout": "1", **extra}
    lines = [
        "[webhook]",
        f'url = "{url}"',
        'secret = "${LAPTIME_TEST_WEBHOOK_SECRET}"',
        *(f"{k} = {v}" for k, v in settings.items()),
        "[webhook.headers]",
        'Authorization = "Bearer ${LAPTIME_TEST_WEBHOOK_TOKEN}"',
    ]
    store.config_path.write_text("\n".join(lines) + "\n")


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAPTIME_TEST_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("LAPTIME_TEST_WEBHOOK_TOKEN", TOKEN)


@pytest.fixture(autouse=True)
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Backoff waits are recorded, not slept, so the tests stay fast."""
    waits: list[float] = []
    monkeypatch.setattr("laptime.webhook.delivery._sleep", waits.append)
    return waits


def _record_run(store: Store, outcome: str = "completed") -> str:
    with Recorder(home=store.root, flush_interval=0) as rec:
        with rec.run("fix-login", runner="ci") as run:
            with run.phase("plan"):
                run.llm_call("claude-sonnet-4-5", provider="anthropic", input_tokens=1200, output_tokens=300)
            if outcome != "completed":
                run.set_outcome(outcome)  # type: ignore[arg-type]
        run_id = run.id
    assert dispatch.wait_for_deliveries(20)
    return run_id


def _deliveries(store: Store) -> list[dict[str, Any]]:
    with Index(store) as index:
        index.update()
        rows = index.query(
            "SELECT value, attrs FROM metrics WHERE name = ? ORDER BY ts, id", (dispatch.DELIVERY_METRIC,)
        )
    return [{"attempts": value, **json.loads(attrs)} for value, attrs in rows]


class TestDelivery:
    def test_a_run_that_ends_posts_its_report_json_signed(self, store: Store, receiver: Receiver) -> None:
        _configure(store, receiver.url)
        run_id = _record_run(store)
        assert len(receiver.requests) == 1
        headers, body = receiver.requests[0]
        assert headers["X-Laptime-Event"] == "completed"
        assert headers["X-Laptime-Run-Id"] == run_id
        assert headers["Authorization"] == f"Bearer {TOKEN}"
        assert headers["Content-Type"] == "application/json"
        assert verify(SECRET.encode(), headers["X-Laptime-Signature"], body)
        # the body is the run's report JSON, the same figures as `laptime report RUN --json`
        shown = invoke(store.root, "report", run_id, "--json")
        assert shown.exit_code == 0, shown.output
        sent = json.loads(body)
        assert sent == json.loads(shown.output)
        assert sent["run_id"] == run_id
        assert sent["cost_usd"] > 0
        (delivery,) = _deliveries(store)
        assert delivery["status"] == "delivered"
        assert delivery["event"] == "completed"
        assert delivery["http_status"] == 200
        assert delivery["attempts"] == 1
        assert delivery["endpoint"] == f"http://127.0.0.1:{receiver.port}"

    def test_include_spans_sends_report_show(self, store: Store, receiver: Receiver) -> None:
        _configure(store, receiver.url, include_spans="true")
        run_id = _record_run(store)
        body = json.loads(receiver.requests[0][1])
        shown = json.loads(invoke(store.root, "report", "show", run_id, "--json").output)
        assert [s["name"] for s in body["spans"]] == [s["name"] for s in shown["spans"]]

    def test_a_500_then_success_is_retried(self, store: Store, receiver: Receiver, waits: list[float]) -> None:
        receiver.script = [(500, 0.0), (200, 0.0)]
        _configure(store, receiver.url)
        _record_run(store)
        assert len(receiver.requests) == 2
        (delivery,) = _deliveries(store)
        assert (delivery["status"], delivery["attempts"], delivery["http_status"]) == ("delivered", 2, 200)
        assert len(waits) == 1
        assert 0 <= waits[0] <= BACKOFF_BASE_S * 2

    def test_a_4xx_is_final(self, store: Store, receiver: Receiver) -> None:
        receiver.default = (400, 0.0)
        _configure(store, receiver.url)
        _record_run(store)
        assert len(receiver.requests) == 1
        (delivery,) = _deliveries(store)
        assert delivery["status"] == "failed"
        assert delivery["error"] == "the receiver answered HTTP 400"

    def test_a_timeout_fails_after_every_retry(self, store: Store, receiver: Receiver) -> None:
        receiver.default = (200, 2.0)  # answers after the 1 s timeout
        _configure(store, receiver.url)
        with pytest.warns(UserWarning, match="webhook completed for run .* failed after 3 attempts: no answer"):
            _record_run(store)
        (delivery,) = _deliveries(store)
        assert delivery["status"] == "failed"
        assert delivery["attempts"] == 3
        assert delivery["error"] == "no answer within the timeout of 1 s"

    def test_a_refused_connection_fails_then_redeliver_sends_it(self, store: Store) -> None:
        port = _free_port()
        _configure(store, f"http://127.0.0.1:{port}/hook")
        with pytest.warns(UserWarning, match="could not reach http://127.0.0.1"):
            run_id = _record_run(store, outcome="failed")
        (delivery,) = _deliveries(store)
        assert delivery["status"] == "failed"
        assert delivery["event"] == "failed"
        assert delivery["error"].startswith(f"could not reach http://127.0.0.1:{port}:")
        result = invoke(store.root, "webhook", "redeliver")
        assert result.exit_code == 1
        assert result.output.startswith(f"failed failed for {run_id} after 3 attempt(s): could not reach")
        # now the receiver is up on that port
        state = Receiver(port=port)
        server = _serve_on(port, state)
        try:
            result = invoke(store.root, "webhook", "redeliver")
            assert result.exit_code == 0, result.output
            assert result.output == f"delivered failed for {run_id}: HTTP 200 after 1 attempt(s)\n"
            assert state.requests[0][0]["X-Laptime-Event"] == "failed"
            result = invoke(store.root, "webhook", "redeliver")
            nothing = "nothing to redeliver: every recorded delivery got through\n"
            assert (result.exit_code, result.output) == (0, nothing)
        finally:
            server.shutdown()
            server.server_close()
        with Index(store) as index:
            index.update()
            assert undelivered(index) == []

    def test_events_filter_which_outcomes_fire(self, store: Store, receiver: Receiver) -> None:
        _configure(store, receiver.url, events='["failed"]')
        _record_run(store, outcome="completed")
        assert receiver.requests == []
        _record_run(store, outcome="failed")
        assert [h["X-Laptime-Event"] for h, _ in receiver.requests] == ["failed"]

    def test_send_by_hand(self, store: Store, receiver: Receiver) -> None:
        _configure(store, receiver.url, events='["failed"]')
        run_id = _record_run(store)
        result = invoke(store.root, "webhook", "send", run_id[:14], "--event", "completed", "--json")
        assert result.exit_code == 0, result.output
        (sent,) = json.loads(result.output)["deliveries"]
        got = (sent["run_id"], sent["event"], sent["delivered"], sent["http_status"])
        assert got == (run_id, "completed", True, 200)
        result = invoke(store.root, "webhook", "send", run_id)
        assert (result.exit_code, result.output) == (
            0,
            f"nothing sent: run {run_id} fires no event that webhook.events lists; name one with --event\n",
        )


def _serve_on(port: int, state: Receiver) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.requests.append((dict(self.headers.items()), body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class TestOffThePath:
    def test_a_slow_receiver_delays_exit_by_at_most_exit_wait_and_the_rest_is_redeliverable(
        self, store: Store, receiver: Receiver, tmp_path: Path
    ) -> None:
        receiver.default = (200, 4.0)
        _configure(store, receiver.url, exit_wait="1", timeout="10")
        program = tmp_path / "program.py"
        program.write_text(
            "import time, laptime\n"
            "with laptime.run('slow-hook') as run:\n"
            "    pass\n"
            "t = time.monotonic()\n"
            "print(f'{time.monotonic() - t:.3f}')\n",
        )
        env = {**os.environ, "LAPTIME_HOME": str(store.root)}
        started = time.monotonic()
        done = subprocess.run([sys.executable, str(program)], env=env, capture_output=True, text=True, check=False)
        elapsed = time.monotonic() - started
        assert done.returncode == 0, done.stderr
        # the run's end returned at once; the exit waited exit_wait (1 s), not the 4 s answer
        assert float(done.stdout) < 0.5
        assert elapsed < 3.5
        assert "not delivered within webhook.exit_wait = 1 s" in done.stderr
        assert [d["status"] for d in _deliveries(store)] == ["abandoned"]
        receiver.default = (200, 0.0)
        result = invoke(store.root, "webhook", "redeliver")
        assert result.exit_code == 0, result.output
        assert result.output.startswith("delivered completed for ")

    def test_a_slow_receiver_within_exit_wait_gets_the_delivery(self, store: Store, receiver: Receiver) -> None:
        receiver.default = (200, 0.5)
        _configure(store, receiver.url)
        _record_run(store)
        assert [d["status"] for d in _deliveries(store)] == ["delivered"]

    def test_a_missing_extra_is_one_warning_and_the_run_is_kept(
        self, store: Store, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        _configure(store, receiver.url)
        monkeypatch.setitem(sys.modules, "httpx", None)
        with pytest.warns(UserWarning, match="httpx") as caught:
            run_id = _record_run(store)
        assert len([w for w in caught if "webhook" in str(w.message)]) == 1
        assert receiver.requests == []
        assert invoke(store.root, "report", run_id, "--json").exit_code == 0

    def test_an_unset_environment_variable_names_the_setting(
        self, store: Store, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        _configure(store, receiver.url)
        monkeypatch.delenv("LAPTIME_TEST_WEBHOOK_TOKEN")
        with pytest.warns(UserWarning, match=r"webhook.headers.Authorization uses \$\{LAPTIME_TEST_WEBHOOK_TOKEN\}"):
            _record_run(store)
        assert receiver.requests == []


class TestNoSecretAnywhere:
    def test_secret_and_header_values_never_reach_log_reports_or_exports(
        self, store: Store, receiver: Receiver, capsys: pytest.CaptureFixture[str]
    ) -> None:
        receiver.script = [(500, 0.0), (503, 0.0), (502, 0.0)]
        _configure(store, receiver.url)
        with pytest.warns(UserWarning, match="the receiver answered HTTP 502") as caught:
            run_id = _record_run(store, outcome="failed")
        port = _free_port()
        store.config_path.write_text(store.config_path.read_text().replace(str(receiver.port), str(port)))
        outputs = [str(w.message) for w in caught]
        for args in (
            ("report", run_id, "--json"),
            ("report", "show", run_id, "--json"),
            ("report", "show", run_id),
            ("report", "list", "--json"),
            ("report", "export", "--jsonl", "-", "--detailed"),
            ("kpi", run_id),
            ("export", "otlp", "-o", "-"),
            ("webhook", "redeliver", "--json"),
            ("doctor",),
        ):
            result = invoke(store.root, *args)
            assert result.exit_code in (0, 1), (args, result.output)  # redeliver fails again: exit 1
            outputs.append(result.output)
        captured = capsys.readouterr()
        outputs += [captured.out, captured.err]
        # everything laptime wrote (the config file is the user's own)
        stored = b"".join(p.read_bytes() for p in store.root.rglob("*") if p.is_file() and p != store.config_path)
        for secret in (SECRET, TOKEN, "query-token-77"):
            assert secret.encode() not in stored
            assert not [o for o in outputs if secret in o]
        assert "delivery_id" in stored.decode(errors="replace")


class TestSigning:
    def test_signature_verifies_and_refuses_tampering_and_replays(self) -> None:
        key, body = b"k" * 32, b'{"run_id":"x"}'
        header = signature(key, 1_800_000_000, body)
        assert header.startswith("t=1800000000,v1=")
        assert verify(key, header, body, now=1_800_000_100)
        assert not verify(key, header, body + b" ", now=1_800_000_100)
        assert not verify(b"other", header, body, now=1_800_000_100)
        assert not verify(key, header, body, now=1_800_000_000 + 301)  # replayed later
        assert not verify(key, "v1=abc", body, now=1_800_000_000)
        assert not verify(key, "t=soon,v1=abc", body, now=1_800_000_000)

    def test_the_digest_is_hmac_sha256_of_timestamp_dot_body(self) -> None:
        import hashlib
        import hmac

        expected = hmac.new(b"key", b"1700000000.hello", hashlib.sha256).hexdigest()
        assert signature(b"key", 1_700_000_000, b"hello") == f"t=1700000000,v1={expected}"


class TestBackoff:
    def test_waits_grow_exponentially_with_full_jitter(self, waits: list[float]) -> None:
        port = _free_port()
        settings = WebhookSettings(url=f"http://127.0.0.1:{port}/", retries=6, timeout=1)
        result = deliver(resolve(settings, {}), event="completed", run_id="r", body=b"{}")
        assert (result.delivered, result.attempts) == (False, 7)
        assert len(waits) == 6
        for n, wait in enumerate(waits, start=1):
            assert 0 <= wait <= min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2**n)
        assert len(set(waits)) == 6  # jittered: no two waits alike


class TestConfig:
    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ('url = "ftp://x"', "webhook.url must be an http:// or https:// URL with a host"),
            ("timeout = 5", "webhook.url is required"),
            ('url = "http://h"\ntimeout = -1', "webhook.timeout must be above 0 and at most 60 seconds, got -1"),
            ('url = "http://h"\ntimeout = nan', "webhook.timeout must be a number of seconds, got nan"),
            ('url = "http://h"\nretries = 1.5', "webhook.retries must be a whole number from 0 to 10, got 1.5"),
            ('url = "http://h"\nevents = ["done"]', "webhook.events has 'done', which is not one of completed"),
            ('url = "http://h"\nsecret = "plain"', "webhook.secret must name an environment variable"),
            ('url = "http://h"\ninclude_spans = "yes"', "webhook.include_spans must be true or false"),
            ('url = "http://h"\nretry = 3', "webhook.retry is not a setting"),
            ('url = "http://h"\nheaders = {"X-Laptime-Event" = "x"}', "headers.X-Laptime-Event is set by laptime"),
            ('url = "http://h"\nheaders = {"Bad Name" = "x"}', "webhook.headers.Bad Name is not a valid HTTP header"),
        ],
    )
    def test_bad_settings_name_the_key_and_exit_2(self, store: Store, text: str, message: str) -> None:
        store.root.mkdir(parents=True)
        store.config_path.write_text(f"[webhook]\n{text}\n")
        with pytest.raises(WebhookConfigError, match="^" + str(store.config_path).replace(".", r"\.")) as caught:
            load_config(store)
        assert message in str(caught.value)
        result = invoke(store.root, "webhook", "redeliver")
        assert result.exit_code == 2
        assert message in result.output

    def test_a_header_value_with_a_newline_is_refused_without_showing_it(self, store: Store) -> None:
        store.root.mkdir(parents=True)
        store.config_path.write_text('[webhook]\nurl = "http://h"\n[webhook.headers]\nX-Key = "abc\\ndef"\n')
        with pytest.raises(WebhookConfigError, match=r"webhook\.headers\.X-Key must be one line") as caught:
            load_config(store)
        assert "abc" not in str(caught.value)

    def test_redeliver_without_a_webhook_section_is_a_usage_error(self, store: Store) -> None:
        _record_run(store)
        result = invoke(store.root, "webhook", "send", "--event", "completed", "--json", _latest(store))
        assert result.exit_code == 2
        assert "no [webhook] section" in result.output


def _latest(store: Store) -> str:
    with Index(store) as index:
        index.update()
        return str(index.query("SELECT run_id FROM runs ORDER BY started_us DESC LIMIT 1")[0][0])


class TestFindings:
    def test_a_run_over_budget_fires_budget_exceeded(self, store: Store, receiver: Receiver) -> None:
        _configure(store, receiver.url, events='["budget_exceeded"]')
        store.config_path.write_text(store.config_path.read_text() + "[budgets]\ntokens = 1000\n")
        _record_run(store)  # 1,500 tokens
        assert [h["X-Laptime-Event"] for h, _ in receiver.requests] == ["budget_exceeded"]
        store.config_path.write_text(store.config_path.read_text().replace("tokens = 1000", "tokens = 5000"))
        _record_run(store)
        assert len(receiver.requests) == 1  # within budget: nothing more

    def test_a_run_slower_than_its_history_beyond_noise_fires_regression(
        self, store: Store, receiver: Receiver
    ) -> None:
        from datetime import timedelta

        from helpers import T0, record_simple_run

        _configure(store, receiver.url, events='["regression"]')
        for n in range(20):
            record_simple_run(store, f"h{n:02d}", start=T0 + timedelta(hours=n), seconds=55 + (n * 7) % 11)
        assert dispatch.wait_for_deliveries(30)
        assert receiver.requests == []  # no run of the history is slower than the others beyond noise
        record_simple_run(store, "slow", start=T0 + timedelta(hours=30), seconds=600)
        assert dispatch.wait_for_deliveries(30)
        assert [(h["X-Laptime-Event"], h["X-Laptime-Run-Id"]) for h, _ in receiver.requests] == [("regression", "slow")]
