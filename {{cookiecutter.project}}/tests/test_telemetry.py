"""Error reports and traces (telemetry.py), against receivers this test runs on loopback."""

import gzip
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sentry_sdk
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

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

    def spans(self) -> list[tuple[str, Span]]:
        """(instrumentation scope, span) of every OTLP/HTTP protobuf export received."""
        found = []
        for path, body in self.received:
            if path == "/v1/traces":
                for resource in ExportTraceServiceRequest.FromString(body).resource_spans:
                    for scope in resource.scope_spans:
                        found += [(scope.scope.name, span) for span in scope.spans]
        return found

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


@pytest.mark.parametrize(
    "settings",
    [
        # As Compose passes them when .env leaves them empty.
        {"SENTRY_DSN": "", "OTEL_EXPORTER_OTLP_ENDPOINT": ""},
        # OpenTelemetry's own off switch wins over an endpoint.
        {"SENTRY_DSN": "", "OTEL_EXPORTER_OTLP_ENDPOINT": "RECEIVER", "OTEL_SDK_DISABLED": "true"},
    ],
    ids=["empty", "otel-disabled"],
)
def test_with_the_variables_unset_nothing_is_loaded_nor_sent(receiver, settings):
    settings = {name: value.replace("RECEIVER", receiver.url) for name, value in settings.items()}
    env = {**os.environ, "APP_ENV": "testing", **settings}
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
    assert receiver.received == []


{% if cookiecutter.example_api == "yes" -%}
TRACED_PATH = "/api/items"
{%- else -%}
TRACED_PATH = "/health"
{%- endif %}


def attribute(span: Span, name: str) -> str | None:
    return next((a.value.string_value for a in span.attributes if a.key == name), None)


def wait_for_spans(receiver: Receiver, found, timeout: float = 30) -> list:
    """The spans received, once found(spans) is true (the exporter sends in batches)."""
    deadline = time.monotonic() + timeout
    while not found(spans := receiver.spans()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return spans


def test_a_request_is_traced_down_to_its_database_statements(serve, receiver, database_url):
    url, output = serve(
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
        OTEL_BSP_SCHEDULE_DELAY="100",  # milliseconds between exports: the test waits less
    )
    with urllib.request.urlopen(f"{url}{TRACED_PATH}") as response:
        assert response.status == 200
        request_id = response.headers[REQUEST_ID_HEADER]

    def server_span_of(spans):
        return next(
            (
                span
                for _, span in spans
                if span.kind == Span.SPAN_KIND_SERVER
                and attribute(span, "http.route") == TRACED_PATH
            ),
            None,
        )

    spans = wait_for_spans(receiver, server_span_of)
    server = server_span_of(spans)
    assert server is not None, [span.name for _, span in spans]
    by_id = {span.span_id: span for _, span in spans if span.trace_id == server.trace_id}

    def under_server(span: Span) -> bool:
        while span.parent_span_id in by_id:
            span = by_id[span.parent_span_id]
            if span is server:
                return True
        return False

    statements = {
        scope: attribute(span, "db.statement") or attribute(span, "db.query.text")
        for scope, span in spans
        if span.trace_id == server.trace_id and under_server(span)
    }
    sqlalchemy_statement = statements.get("opentelemetry.instrumentation.sqlalchemy") or ""
    assert "SELECT" in sqlalchemy_statement, statements
    if database_url.startswith("mysql"):  # the driver's own span, under SQLAlchemy's
        assert "SELECT" in (statements.get("opentelemetry.instrumentation.pymysql") or "")

    # The request's log line names the trace, beside the request id.
    lines = [json.loads(line) for line in output().splitlines() if line.startswith("{")]
    [line] = [x for x in lines if x.get("request_id") == request_id and x.get("path")]
    assert line["trace_id"] == server.trace_id.hex()
