"""The OpenAPI document: served, with a docs page in development only.
{%- if cookiecutter.example_api == "yes" %}

And true to the API: schemathesis fuzzes every operation from it, with
valid and invalid input, then runs call sequences along its links (create an
item, then use it), and applies every check it has.
"""
{%- else %}"""
{%- endif %}

import pytest
{%- if cookiecutter.example_api == "yes" %}
import schemathesis
from hypothesis import HealthCheck, settings

from {{ cookiecutter.package }} import create_app
{%- endif %}

DOCUMENT = "/api/openapi.json"


def test_the_document_is_served(client):
    response = client.get(DOCUMENT)
    assert response.status_code == 200
    assert response.get_json()["openapi"].startswith("3.")


@pytest.mark.parametrize(("environment", "status"), [("development", 200), ("testing", 404)])
def test_the_docs_page_is_served_in_development_only(make_app, environment, status):
    assert make_app(ENVIRONMENT=environment).test_client().get("/api/docs").status_code == status


@pytest.mark.parametrize(("environment", "links"), [
    ("development", {"health", "openapi", "docs"}),
    ("testing", {"health", "openapi"}),
])  # fmt: skip
def test_the_first_page_names_the_app_and_where_to_go(make_app, environment, links):
    app = make_app(ENVIRONMENT=environment)
    page = app.test_client().get("/").get_json()
    assert page["name"] == "{{ cookiecutter.project }}"
    assert set(page["links"]) == links
    # Each link is a route of the app (matched, not requested: /health would
    # open a database connection this in-memory app never closes).
    routes = app.url_map.bind("localhost")
    for url in page["links"].values():
        routes.match(url)  # NotFound for a link to nowhere
{%- if cookiecutter.example_api == "yes" %}


# The document is the same for every database: read it, at collection, from
# an app on an in-memory SQLite; the cases are then sent to the test's own app.
schema = schemathesis.openapi.from_wsgi(
    DOCUMENT, create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
)


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
    # Every check schemathesis has, in each of its phases for single calls
    # (examples, coverage, fuzzing): no 5xx; every answer one the document
    # declares, in its shape; bad input refused and good input accepted; the
    # headers HTTP requires (Allow on a 405).
    case.call_and_validate(app=app)


def test_call_sequences_that_follow_the_links_keep_to_the_document(app):
    """The stateful phase: create an item, then read, change, replace or delete
    it through the document's links, with every check on every answer."""

    class LinkedCalls(schema.as_state_machine()):
        def get_call_kwargs(self, case):
            return {"app": app}

    LinkedCalls.run(
        settings=settings(
            max_examples=10,
            stateful_step_count=5,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )
{%- endif %}
