"""/health (readiness) and /health/live (liveness), as health.py defines them."""
{%- if cookiecutter.example_api == "yes" %}

from flask_migrate import downgrade, upgrade
{%- endif %}


def test_health_is_ok_when_the_database_is_at_head(client):
    response = client.get("/health")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["current"] == body["heads"]


{% if cookiecutter.example_api == "yes" -%}
def test_health_is_503_when_migrations_are_pending(app, client):
    downgrade(revision="base")
    try:
        response = client.get("/health")
        assert response.status_code == 503
        assert response.get_json()["schema"].startswith("not at head")
    finally:
        upgrade()


{% endif -%}
def test_health_is_ok_when_a_newer_release_has_migrated_the_database(
    client, newer_release_migrated
):
    # During a rolling update the old replicas must stay ready.
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json()["schema"].startswith("ahead of this code")


def test_health_is_503_when_the_database_is_unreachable(unreachable_app):
    response = unreachable_app.test_client().get("/health")
    assert response.status_code == 503
    assert response.get_json()["database"] == "unreachable"


def test_liveness_never_touches_the_database(unreachable_app):
    response = unreachable_app.test_client().get("/health/live")
    assert response.status_code == 200
    assert response.get_json() == {"status": "alive"}


def test_unknown_paths_get_a_json_404(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.get_json()["error"] == "Not Found"
