"""Request logs (logs.py): an id per request, one line per request, one format for every line."""

import json
import logging
import re
import urllib.error
import urllib.request

import pytest
from sqlalchemy import text

from {{ cookiecutter.package }}.extensions import db
from {{ cookiecutter.package }}.logs import REQUEST_ID_HEADER, RequestFields

GENERATED_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def caplog(caplog):
    """pytest's log capture, with the request fields the server's handler stamps (logs.py)."""
    caplog.handler.addFilter(RequestFields())
    return caplog


@pytest.fixture
def failing_app(make_app):
    """An app with a view that fails unexpectedly."""
    app = make_app(PROPAGATE_EXCEPTIONS=False)  # answered as in production, not raised

    @app.get("/fail")
    def fail():
        raise RuntimeError("something broke")

    return app


def test_every_response_carries_a_new_request_id(make_app):
    client = make_app().test_client()
    first, second = client.get("/health/live"), client.get("/health/live")
    assert GENERATED_ID.fullmatch(first.headers[REQUEST_ID_HEADER])
    assert first.headers[REQUEST_ID_HEADER] != second.headers[REQUEST_ID_HEADER]


def test_a_proxys_request_id_is_kept_and_a_malformed_one_replaced(make_app):
    client = make_app().test_client()
    kept = client.get("/health/live", headers={REQUEST_ID_HEADER: "edge-42.abc"})
    assert kept.headers[REQUEST_ID_HEADER] == "edge-42.abc"
    for bad in ("two words", "x" * 129, 'quote"d'):
        replaced = client.get("/health/live", headers={REQUEST_ID_HEADER: bad})
        assert GENERATED_ID.fullmatch(replaced.headers[REQUEST_ID_HEADER]), bad


def test_one_line_per_request_with_method_path_status_duration_and_id(make_app, caplog):
    client = make_app().test_client()
    with caplog.at_level(logging.INFO, logger="{{ cookiecutter.package }}.request"):
        response = client.get("/health/live?probe=1")
    [line] = [r for r in caplog.records if r.name == "{{ cookiecutter.package }}.request"]
    assert (line.method, line.path, line.status) == ("GET", "/health/live", 200)
    assert line.duration_ms >= 0
    assert line.request_id == response.headers[REQUEST_ID_HEADER]


def test_a_5xx_body_and_the_traceback_carry_the_request_id(failing_app, caplog):
    with caplog.at_level(logging.INFO):
        response = failing_app.test_client().get("/fail")
    assert response.status_code == 500
    request_id = response.get_json()["request_id"]
    assert request_id == response.headers[REQUEST_ID_HEADER]
    [error] = [r for r in caplog.records if r.exc_info]
    assert error.request_id == request_id
    [line] = [r for r in caplog.records if r.name.endswith(".request")]
    assert (line.status, line.request_id) == (500, request_id)


def test_a_database_failure_body_carries_the_request_id(unreachable_app):
    @unreachable_app.get("/query")
    def query():
        db.session.execute(text("SELECT 1"))

    response = unreachable_app.test_client().get("/query")
    assert response.status_code == 503
    assert response.get_json()["request_id"] == response.headers[REQUEST_ID_HEADER]


def get(url: str, **headers: str):
    """GET url; return (status, headers, body), whatever the status."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def test_the_production_server_writes_every_line_in_json_gunicorns_too(serve):
    url, output = serve()
    status, headers, _ = get(f"{url}/", **{REQUEST_ID_HEADER: "from-the-proxy"})
    assert status == 200
    lines = [json.loads(line) for line in output().splitlines() if line.strip()]
    assert {"gunicorn.error", "{{ cookiecutter.package }}.request"} <= {x["logger"] for x in lines}
    [request_line] = [x for x in lines if x.get("path") == "/"]
    assert request_line["request_id"] == "from-the-proxy"
    assert (request_line["method"], request_line["status"]) == ("GET", 200)
    assert {"timestamp", "level", "message", "duration_ms"} <= set(request_line)


def test_the_development_server_writes_readable_lines(serve):
    url, output = serve(APP_ENV="development")
    status, headers, _ = get(f"{url}/")
    assert status == 200
    request_id = headers[REQUEST_ID_HEADER]
    [line] = [x for x in output().splitlines() if "GET / 200" in x]
    assert f" INFO [{request_id}] " in line
    assert any("[-] gunicorn.error: Listening at" in x for x in output().splitlines())
