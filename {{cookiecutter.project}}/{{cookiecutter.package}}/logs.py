"""Log lines: one per request with a request id, and one format for every line.

Every request gets an id: the one a proxy sent in X-Request-ID, else a new
one. It is returned in the response, stamped on every line logged while the
request runs (its request line, its errors and their tracebacks) and put in
the body of a 5xx (errors.py), so a user's report leads to the log line.

The format is chosen once, when the server starts (gunicorn.conf.py's
ServerLogger applies config()): JSON in production, one object per line for a machine to
read; readable text in development. gunicorn's own lines go through the same
handler, so they share the format.

python-json-logger, not structlog nor a formatter written here: it is a
Formatter of the standard library's logging, so gunicorn's, Flask's,
Alembic's and our loggers need no wrapping or bridge, and a line costs one
json.dumps of the record's fields. structlog would add its own logger API
and a processor chain to bridge the standard library's records into.
"""

import logging
import re
import sys
import time
import uuid

from flask import Flask, g, has_request_context, request

REQUEST_ID_HEADER = "X-Request-ID"
# A proxy's id is taken when it looks like one: it goes into log lines and a
# response header, so no spaces, quotes or line breaks, and a bounded length.
PROXY_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@+=/-]{1,128}")

request_log = logging.getLogger(f"{__package__}.request")


def request_id() -> str:
    """The current request's id: the proxy's X-Request-ID when valid, else a new one."""
    if "request_id" not in g:
        sent = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = sent if PROXY_REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex
    return g.request_id


def start_request() -> None:
    g.request_started = time.perf_counter()
    request_id()


def log_request(response):
    """Write the request's line and return its id to the client."""
    response.headers[REQUEST_ID_HEADER] = request_id()
    if request_log.isEnabledFor(logging.INFO):
        started = g.get("request_started")
        duration_ms = round((time.perf_counter() - started) * 1000, 2) if started else None
        request_log.info(
            "%s %s %s %s ms",
            request.method,
            request.path,
            response.status_code,
            duration_ms,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": duration_ms,
            },
        )
    return response


def init_app(app: Flask) -> None:
    """Give every request an id and a log line (registered first: it times the others)."""
    app.before_request_funcs.setdefault(None, []).insert(0, start_request)
    app.after_request(log_request)


class RequestFields(logging.Filter):
    """Stamp the request id, and the trace id when tracing is on, on every line
    logged during a request, from whichever logger it comes."""

    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context():
            record.request_id = request_id()
        # Looked up, not imported: tracing is imported only when configured (telemetry.py).
        trace = sys.modules.get("opentelemetry.trace")
        if trace is not None:
            context = trace.get_current_span().get_span_context()
            if context.is_valid:
                record.trace_id = format(context.trace_id, "032x")
        return True


READABLE = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"


def config(json_lines: bool) -> dict:
    """logging's dictConfig: every logger through one handler on stdout, in JSON or readable."""
    if json_lines:
        formatter = {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(levelname)s %(name)s %(message)s",
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": True,
        }
    else:
        formatter = {
            "()": logging.Formatter,
            "fmt": READABLE,
            "defaults": {"request_id": "-"},
        }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request": {"()": RequestFields}},
        "formatters": {"line": formatter},
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": "line",
                "filters": ["request"],
            }
        },
        "root": {"level": "INFO", "handlers": ["stdout"]},
        # gunicorn's own handlers go: its lines reach the root's, in the same format.
        "loggers": {"gunicorn.error": {"handlers": [], "propagate": True}},
    }
