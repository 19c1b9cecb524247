"""Error reports and traces (telemetry.py), against receivers this test runs on loopback."""

import gzip
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sentry_sdk

from {{ cookiecutter.package }}.config import PROJECT_ROOT
from {{ cookiecutter.package }}.logs import REQUEST_ID_HEADER


class Receiver(ThreadingHTTPServer):
    """An HTTP server on loopback that answers 200 to every POST and keeps it."""

    def __init__(self):
        self.received: list[tuple[str, bytes]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(handler):
                body = handler.rfile.read(int(handler.headers["Content-Length"]))
                if handler.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                self.received.append((handler.path, body))
                handler.send_response(200)
                handler.send_header("Content-Length", "0")
                handler.end_headers()

            def log_message(handler, *args):
                pass  # the test reads what was received, not a log of it

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"

    def sentry_events(self) -> list[dict]:
        """The events of every Sentry envelope received (one JSON header line,
        then an item header and its payload per item)."""
        events = []
        for _, body in self.received:
            lines = iter(body.split(b"\n")[1:])
            for header in lines:
                if not header.strip():
                    continue
                item = json.loads(header)
                payload = next(lines)
                if item.get("type") == "event":
                    events.append(json.loads(payload))
        return events


@pytest.fixture
def receiver():
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def sentry_to(monkeypatch):
    """sentry_to(receiver): SENTRY_DSN names the receiver for the apps made
    after; the SDK is switched off again at the end."""

    def point(receiver: Receiver) -> None:
        monkeypatch.setenv("SENTRY_DSN", f"{receiver.url.replace('//', '//public@')}/1")

    yield point
    monkeypatch.delenv("SENTRY_DSN", raising=False)
    sentry_sdk.get_client().close()
    sentry_sdk.init()


def failing(app):
    @app.get("/fail")
    def fail():
        raise RuntimeError("something broke")

    return app


def test_an_unexpected_error_sends_one_sentry_event_with_the_request_id(
    make_app, receiver, sentry_to
):
    sentry_to(receiver)
    app = failing(make_app(PROPAGATE_EXCEPTIONS=False))
    response = app.test_client().get(
        "/fail?email=private", headers={"Cookie": "session=private", "X-Forwarded-For": "10.1.2.3"}
    )
    assert response.status_code == 500
    sentry_sdk.flush(timeout=10)

    [event] = receiver.sentry_events()
    assert event["tags"]["request_id"] == response.get_json()["request_id"]
    assert event["tags"]["request_id"] == response.headers[REQUEST_ID_HEADER]
    [exception] = event["exception"]["values"]
    assert (exception["type"], exception["value"]) == ("RuntimeError", "something broke")
    assert event["release"] == "{{ cookiecutter.project }}@0.1.0"
    assert event["environment"] == "testing"
    # No personal data: no cookies, query string, user or address.
    assert "private" not in json.dumps(event)
    assert "10.1.2.3" not in json.dumps(event)
    assert "ip_address" not in json.dumps(event.get("user", {}))


def test_a_handled_error_sends_nothing(make_app, receiver, sentry_to):
    sentry_to(receiver)
    response = make_app().test_client().get("/no-such-page")
    assert response.status_code == 404
    sentry_sdk.flush(timeout=10)
    assert receiver.sentry_events() == []


UNSET_PROBE = """
import sys
from {{ cookiecutter.package }} import create_app

app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "PROPAGATE_EXCEPTIONS": False})

@app.get("/fail")
def fail():
    raise RuntimeError("something broke")

client = app.test_client()
assert client.get("/").status_code == 200
assert client.get("/fail").status_code == 500
roots = {"sentry_sdk", "opentelemetry"}
print(" ".join(name for name in sys.modules if name.split(".")[0] in roots))
"""


def test_with_the_variables_unset_nothing_is_loaded():
    env = {
        **os.environ,
        "APP_ENV": "testing",
        # As Compose passes them when .env leaves them empty.
        "SENTRY_DSN": "",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "",
    }
    result = subprocess.run(
        [sys.executable, "-c", UNSET_PROBE],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"loaded without being configured: {result.stdout}"
