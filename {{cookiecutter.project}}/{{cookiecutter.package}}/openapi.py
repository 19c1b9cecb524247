"""The API's OpenAPI document: /api/openapi.json, and a docs page at /api/docs in development.

Views declare what they accept and answer with marshmallow schemas on a
`Blueprint` of this module (flask-smorest): the same schemas check the
request, write the response and make the document, so the document cannot
drift from the code.
"""

import flask_smorest
from flask import Flask, abort
from webargs.flaskparser import FlaskParser

from .errors import ErrorBody


class Api(flask_smorest.Api):
    # Every error response is documented with the body errors.py writes.
    ERROR_SCHEMA = ErrorBody


class JSONParser(FlaskParser):
    """Read a JSON body as Flask does: 415 when it is not JSON, 400 when it is malformed.

    webargs' own reading would take a form post for an empty object, and
    fail with a 500 on a body nested deeper than the JSON parser's limit.
    """

    def load_json(self, req, schema):
        try:
            return req.get_json()
        except RecursionError:
            abort(400, "the JSON body is nested too deeply")


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = JSONParser()


TITLE = "{{ cookiecutter.project }}"
spec = Api(spec_kwargs={"title": TITLE, "version": "1", "openapi_version": "3.1.0"})


def init_app(app: Flask) -> None:
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    if app.config["ENVIRONMENT"] == "development":
        # Swagger UI's files come from its CDN, to the developer's browser:
        # production serves the document only.
        app.config.setdefault("OPENAPI_SWAGGER_UI_PATH", "docs")
        app.config.setdefault(
            "OPENAPI_SWAGGER_UI_URL", "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/"
        )
    spec.init_app(app)
