"""The OpenAPI document: served, with a docs page in development only.
{%- if cookiecutter.example_api == "yes" %}

And true to the API: schemathesis fuzzes every operation from it, with
valid and invalid input.
"""
{%- else %}"""
{%- endif %}

import pytest
{%- if cookiecutter.example_api == "yes" %}
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
{%- endif %}

from {{ cookiecutter.package }} import create_app

DOCUMENT = "/api/openapi.json"


def test_the_document_is_served(client):
    response = client.get(DOCUMENT)
    assert response.status_code == 200
    assert response.get_json()["openapi"].startswith("3.")


def app_for(environment: str):
    return create_app(
        {"ENVIRONMENT": environment, "TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"}
    )


@pytest.mark.parametrize(("environment", "status"), [("development", 200), ("testing", 404)])
def test_the_docs_page_is_served_in_development_only(environment, status):
    assert app_for(environment).test_client().get("/api/docs").status_code == status
{%- if cookiecutter.example_api == "yes" %}


# The document is the same for every database: read it from an app on an
# in-memory SQLite; the cases are then sent to the test's own app.
schema = schemathesis.openapi.from_wsgi(DOCUMENT, app_for("testing"))


# derandomize: the same cases on every run, so a failure replays and CI does
# not flake; max_examples keeps the suite quick.
@schema.parametrize()
@settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_keeps_to_its_openapi_document(case, app):
    # No 5xx, and every answer is one the document declares, in its shape.
    case.call_and_validate(
        app=app,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
{%- endif %}
