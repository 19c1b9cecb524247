"""Extensions, created unbound here and bound to an app in create_app."""

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from .config import PROJECT_ROOT

# Named constraints let Alembic drop and alter them later; anonymous ones
# make downgrades emit drop_constraint(None, ...) and fail.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
# An absolute path, so `flask db ...` works from any working directory.
migrate = Migrate(directory=str(PROJECT_ROOT / "migrations"))


def init_app(app) -> None:
    """Bind every extension to the app."""
    db.init_app(app)
    migrate.init_app(app, db)
