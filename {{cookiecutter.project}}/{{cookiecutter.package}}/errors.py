"""Every error is a JSON body with the HTTP status: clients never parse HTML."""

from flask import current_app, jsonify
from pymysql.constants import ER
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError

from .cli import error_code

# MySQL errors that mean the server has no room left for a write
# (InnoDB's is RECORD_FILE_FULL, 1114: "The table ... is full").
OUT_OF_SPACE = {ER.DISK_FULL, ER.RECORD_FILE_FULL}


def http_error(error: HTTPException):
    return jsonify(error=error.name, message=error.description), error.code


def unexpected_error(error: InternalServerError):
    # The traceback goes to the log; the client gets no internals.
    return jsonify(error="Internal Server Error", message="unexpected error"), 500


def database_unavailable(error: OperationalError):
    """The database is down, unreachable, timing out or full: a 503, not a bug."""
    if error_code(error) in OUT_OF_SPACE:
        message = "the database is out of space: writes fail until space is freed"
    else:
        message = "the database is unavailable: try again shortly"
    current_app.logger.error("503: %s (%s)", message, error.orig)
    body = jsonify(error="Service Unavailable", message=message)
    return body, 503, {"Retry-After": "5"}


def init_app(app) -> None:
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(InternalServerError, unexpected_error)
    # SQLAlchemy wraps the driver's connection losses, timeouts and
    # server-side failures (MySQL 1114, 2003, 2013...) in OperationalError.
    app.register_error_handler(OperationalError, database_unavailable)
