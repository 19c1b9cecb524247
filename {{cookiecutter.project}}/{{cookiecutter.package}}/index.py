"""/: what the first request of a newcomer finds (`make local` serves it): the
app's name and where to go next, rather than a 404."""

from flask import Blueprint, current_app, url_for

from .openapi import TITLE

bp = Blueprint("index", __name__)


@bp.get("/")
def index():
    links = {
        "health": url_for("health.health"),
        "openapi": url_for("api-docs.openapi_json"),
    }
    if "api-docs.openapi_swagger_ui" in current_app.view_functions:  # development only
        links["docs"] = url_for("api-docs.openapi_swagger_ui")
    return {"name": TITLE, "links": links}
