"""Every error is a JSON body with the HTTP status: clients never parse HTML."""

from flask import current_app, jsonify
from marshmallow import Schema, fields
from pymysql.constants import ER
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError

from .logs import request_id
from .startup import error_code

# MySQL errors that mean the server has no room left for a write
# (InnoDB's is RECORD_FILE_FULL, 1114: "The table ... is full").
OUT_OF_SPACE = {ER.DISK_FULL, ER.RECORD_FILE_FULL}


class ErrorBody(Schema):
    """Every error body, as the OpenAPI document declares it."""

    error = fields.String(required=True, metadata={"description": "the HTTP status's name"})
    message = fields.String(required=True, metadata={"description": "what went wrong"})
    request_id = fields.String(
        metadata={"description": "on a 5xx: the request's id in the server's log (X-Request-ID)"}
    )


def field_errors(messages: dict) -> str:
    """webargs' {location: {field: [message, ...]}} as one line: "'name' is required; ..."."""
    lines = []
    for by_field in messages.values():
        if not isinstance(by_field, dict):  # an error about the whole body
            by_field = {"_schema": by_field}
        for field, field_messages in by_field.items():
            for message in field_messages if isinstance(field_messages, list) else [field_messages]:
                lines.append(str(message) if field == "_schema" else f"'{field}' {message}")
    return "; ".join(lines)


def http_error(error: HTTPException):
    # webargs' abort puts what a schema refused, field by field, in `data`.
    messages = (getattr(error, "data", None) or {}).get("messages")
    message = field_errors(messages) if messages else error.description
    # Keep the headers HTTP requires of the answer (Allow on a 405,
    # WWW-Authenticate on a 401, Retry-After on a 429 or 503); the body is
    # JSON now, so the exception's HTML Content-Type goes.
    headers = [(name, value) for name, value in error.get_headers() if name != "Content-Type"]
    body = {"error": error.name, "message": message}
    if error.code >= 500:  # the server's fault: the id finds its log lines
        body["request_id"] = request_id()
    return jsonify(body), error.code, headers


def unexpected_error(error: InternalServerError):
    # The traceback goes to the log, under this request id; the client gets
    # no internals, only the id to quote.
    body = jsonify(
        error="Internal Server Error", message="unexpected error", request_id=request_id()
    )
    return body, 500


def database_unavailable(error: OperationalError):
    """The database is down, unreachable, timing out or full: a 503, not a bug."""
    if error_code(error) in OUT_OF_SPACE:
        message = "the database is out of space: writes fail until space is freed"
    else:
        message = "the database is unavailable: try again shortly"
    current_app.logger.error("503: %s (%s)", message, error.orig)
    body = jsonify(error="Service Unavailable", message=message, request_id=request_id())
    return body, 503, {"Retry-After": "5"}


def lost_connection(error: DBAPIError):
    """Any other driver error: a 503 when it cost the connection (SQLAlchemy
    says so: PyMySQL reports a socket it had closed, cut mid-packet, as an
    InterfaceError or InternalError), else a bug, left to the 500 path."""
    if not error.connection_invalidated:
        raise error  # Flask logs it with its traceback and answers 500
    return database_unavailable(error)


def init_app(app) -> None:
    # Registered after flask-smorest's own handler, which this one replaces.
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(InternalServerError, unexpected_error)
    # SQLAlchemy wraps the driver's connection losses, timeouts and
    # server-side failures (MySQL 1114, 2003, 2013...) in OperationalError.
    app.register_error_handler(OperationalError, database_unavailable)
    app.register_error_handler(DBAPIError, lost_connection)
