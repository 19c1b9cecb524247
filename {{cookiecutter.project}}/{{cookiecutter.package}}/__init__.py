"""{{ cookiecutter.project }}: the application factory."""

import os

from flask import Flask

# `models` imports every model module, so the migrations see every table.
from . import {% if cookiecutter.example_api == "yes" %}api, {% endif %}config, errors, extensions, health, models  # noqa: F401
from .cli import wait_for_db_command


def create_app(test_config=None) -> Flask:
    """Create and configure the app; test_config overrides the environment's settings."""
    app = Flask(__name__, instance_path=str(config.PROJECT_ROOT / "instance"))
    app.config.from_object(config.for_environment(os.environ.get("APP_ENV", "production")))
    if test_config is not None:
        app.config.from_mapping(test_config)
    # The driver's options must match the final URL, which test_config may replace.
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
        "connect_args": config.connect_args(app.config["SQLALCHEMY_DATABASE_URI"]),
        **app.config["SQLALCHEMY_ENGINE_OPTIONS"],
    }
    if app.config["ENVIRONMENT"] == "production":
        config.check_production(app.config)
    extensions.init_app(app)
    errors.init_app(app)
    app.register_blueprint(health.bp)
{%- if cookiecutter.example_api == "yes" %}
    app.register_blueprint(api.bp)
{%- endif %}
    app.cli.add_command(wait_for_db_command)
    return app
