"""/health: 200 only when the database answers and its schema is at head."""

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Blueprint, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from .extensions import db, migrate

bp = Blueprint("health", __name__)


def migration_heads() -> set[str]:
    """Return the head revisions of the migrations folder."""
    return set(ScriptDirectory.from_config(migrate.get_config()).get_heads())


def database_revisions() -> set[str]:
    """Return the revisions the database is at (raises if it does not answer)."""
    with db.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
        return set(MigrationContext.configure(connection).get_current_heads())


@bp.get("/health")
def health():
    try:
        current = database_revisions()
    except SQLAlchemyError as error:
        current_app.logger.warning("health: database unreachable: %s", error)
        body = {"status": "unavailable", "database": "unreachable", "schema": "unknown"}
        return jsonify(body), 503
    heads = migration_heads()
    at_head = current == heads
    body = {
        "status": "ok" if at_head else "unavailable",
        "database": "ok",
        "schema": "at head" if at_head else "not at head: run `flask db upgrade`",
        "current": sorted(current),
        "heads": sorted(heads),
    }
    return jsonify(body), 200 if at_head else 503
