"""{{ cookiecutter.project }}: the application factory."""

from flask import Flask

# `models` imports every model module, so the migrations see every table.
from . import {% if cookiecutter.example_api == "yes" %}api, {% endif %}config, errors, extensions, health, index, logs, models, openapi, telemetry  # noqa: F401
from .cli import wait_for_db_command


def create_app(test_config=None) -> Flask:
    """Create and configure the app; test_config overrides the environment's settings."""
    app = Flask(__name__, instance_path=str(config.PROJECT_ROOT / "instance"))
    # Read from the environment now, not when the package was imported.
    app.config.from_object(config.from_environment())
    if test_config is not None:
        app.config.from_mapping(test_config)
    # The driver's options must match the final URL, which test_config may replace.
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
        "connect_args": config.connect_args(app.config["SQLALCHEMY_DATABASE_URI"]),
        **app.config["SQLALCHEMY_ENGINE_OPTIONS"],
    }
    if app.config["ENVIRONMENT"] == "production":
        config.check_production(app.config)
    logs.init_app(app)  # first: it times the request and gives it its id
    telemetry.init_app(app)  # before the extensions: their engines get traced
    extensions.init_app(app)
    openapi.init_app(app)
    errors.init_app(app)  # after openapi: its error bodies replace flask-smorest's
    app.register_blueprint(health.bp)
    app.register_blueprint(index.bp)
{%- if cookiecutter.example_api == "yes" %}
    openapi.spec.register_blueprint(api.bp)  # served, and described in the OpenAPI document
{%- endif %}
    app.cli.add_command(wait_for_db_command)
    return app
