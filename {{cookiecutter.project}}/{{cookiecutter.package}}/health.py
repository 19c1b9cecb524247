"""/health (readiness) and /health/live (liveness).

Readiness: 200 when the database answers and its schema is at this code's
head, or ahead of it (a newer release, rolling out, has already migrated:
with additive migrations the old code still works, and a router must keep
sending it requests until the new replicas are ready). 503 when the
database is unreachable or behind the code.

Liveness: 200 as long as the process serves requests; it never touches the
database, so an orchestrator does not restart every replica when the
database is down (restarts would not help, and would add a storm).
"""

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from flask import Blueprint, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from .extensions import db, migrate

bp = Blueprint("health", __name__)


def migration_scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(migrate.get_config())


def database_revisions() -> set[str]:
    """Return the revisions the database is at (raises if it does not answer)."""
    with db.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
        return set(MigrationContext.configure(connection).get_current_heads())


def schema_state(current: set[str], scripts: ScriptDirectory) -> str:
    """'at head', 'ahead' (revisions this code does not know) or 'behind'."""
    if current == set(scripts.get_heads()):
        return "at head"
    for revision in current:
        try:
            scripts.get_revision(revision)
        except CommandError:  # not in this code's migrations: a newer release's
            return "ahead"
    return "behind"


SCHEMA_MESSAGES = {
    "at head": "at head",
    "ahead": "ahead of this code (a newer release migrated it)",
    "behind": "not at head: run `flask db upgrade`",
}


@bp.get("/health")
def health():
    try:
        current = database_revisions()
    except SQLAlchemyError as error:
        current_app.logger.warning("health: database unreachable: %s", error)
        body = {"status": "unavailable", "database": "unreachable", "schema": "unknown"}
        return jsonify(body), 503
    scripts = migration_scripts()
    state = schema_state(current, scripts)
    ready = state != "behind"
    body = {
        "status": "ok" if ready else "unavailable",
        "database": "ok",
        "schema": SCHEMA_MESSAGES[state],
        "current": sorted(current),
        "heads": sorted(scripts.get_heads()),
    }
    return jsonify(body), 200 if ready else 503


@bp.get("/health/live")
def live():
    return jsonify(status="alive")
