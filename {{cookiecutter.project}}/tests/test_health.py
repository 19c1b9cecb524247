{% if cookiecutter.example_api == "yes" -%}
from flask_migrate import downgrade, upgrade
{% endif -%}
from sqlalchemy import text

from {{ cookiecutter.package }}.extensions import db


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

def test_health_is_ok_when_a_newer_release_has_migrated_the_database(app, client):
    # During a rolling update the old replicas must stay ready: the database
    # is at a revision this code does not know.
    with db.engine.begin() as connection:
        connection.execute(text(
            "CREATE TABLE IF NOT EXISTS alembic_version (version_num VARCHAR(32) PRIMARY KEY)"
        ))  # fmt: skip
        ours = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        connection.execute(text("DELETE FROM alembic_version"))
        connection.execute(text("INSERT INTO alembic_version VALUES ('f00dfeedbeef')"))
    try:
        response = client.get("/health")
        assert response.status_code == 200
        assert response.get_json()["schema"].startswith("ahead of this code")
    finally:
        with db.engine.begin() as connection:
            connection.execute(text("DELETE FROM alembic_version"))
            for revision in ours:
                connection.execute(text("INSERT INTO alembic_version VALUES (:r)"), {"r": revision})


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
