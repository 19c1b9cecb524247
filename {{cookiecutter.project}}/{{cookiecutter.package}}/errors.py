"""Every error is a JSON body with the HTTP status: clients never parse HTML."""

from flask import jsonify
from werkzeug.exceptions import HTTPException, InternalServerError


def http_error(error: HTTPException):
    return jsonify(error=error.name, message=error.description), error.code


def unexpected_error(error: InternalServerError):
    # The traceback goes to the log; the client gets no internals.
    return jsonify(error="Internal Server Error", message="unexpected error"), 500


def init_app(app) -> None:
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(InternalServerError, unexpected_error)
