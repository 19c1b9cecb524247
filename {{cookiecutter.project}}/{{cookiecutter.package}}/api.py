"""The example JSON API: /api/items, list, create, read, update, delete.

Input is validated before it reaches the database: a bad request is a 4xx
JSON body, never a 500.
"""

from flask import Blueprint, abort, jsonify, request
from sqlalchemy import select

from .extensions import db
from .models.item import DESCRIPTION_MAX_LENGTH, NAME_MAX_LENGTH, Item

bp = Blueprint("api", __name__, url_prefix="/api")

# The id column is a signed 32-bit INT on MySQL; larger ids cannot exist.
ITEM_ID = "<int(max=2147483647):item_id>"
PAGE_MAX = 100


class Invalid(Exception):
    """A request body or query value that breaks the API's rules."""


def text_field(
    body: dict, name: str, max_length: int, required: bool, allow_empty: bool
) -> str | None:
    """Return the cleaned string field `name`, or None when absent and optional."""
    if name not in body:
        if required:
            raise Invalid(f"'{name}' is required")
        return None
    value = body[name]
    if not isinstance(value, str):
        raise Invalid(f"'{name}' must be a string")
    value = value.strip()
    if not allow_empty and not value:
        raise Invalid(f"'{name}' must not be empty")
    if len(value) > max_length:
        raise Invalid(f"'{name}' must be at most {max_length} characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise Invalid(f"'{name}' is not valid Unicode text") from None
    return value


def json_body():
    """Return the parsed JSON body: 415 if it is not JSON, 400 if it is malformed."""
    try:
        return request.get_json()
    except RecursionError:  # the parser gives up on very deep nesting
        abort(400, "the JSON body is nested too deeply")


def item_fields(partial: bool) -> dict:
    """Return the validated fields of the JSON body (all required unless partial)."""
    body = json_body()
    if not isinstance(body, dict):
        raise Invalid("the body must be a JSON object")
    unknown = set(body) - {"name", "description"}
    if unknown:
        raise Invalid(f"unknown fields: {', '.join(sorted(map(str, unknown)))}")
    fields = {
        "name": text_field(body, "name", NAME_MAX_LENGTH, required=not partial, allow_empty=False),
        "description": text_field(
            body, "description", DESCRIPTION_MAX_LENGTH, required=False, allow_empty=True
        ),
    }
    return {key: value for key, value in fields.items() if value is not None}


def query_int(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name, str(default))
    if not raw.isdecimal() or not low <= int(raw) <= high:
        raise Invalid(f"'{name}' must be a whole number from {low} to {high}")
    return int(raw)


@bp.errorhandler(Invalid)
def invalid(error: Invalid):
    return jsonify(error="Unprocessable Content", message=str(error)), 422


@bp.get("/items")
def list_items():
    limit = query_int("limit", default=20, low=1, high=PAGE_MAX)
    offset = query_int("offset", default=0, low=0, high=2**31)
    items = db.session.scalars(select(Item).order_by(Item.id).limit(limit).offset(offset))
    return jsonify(items=[item.to_dict() for item in items], limit=limit, offset=offset)


@bp.post("/items")
def create_item():
    item = Item(**item_fields(partial=False))
    db.session.add(item)
    db.session.commit()
    return jsonify(item.to_dict()), 201, {"Location": f"/api/items/{item.id}"}


@bp.get(f"/items/{ITEM_ID}")
def read_item(item_id: int):
    return jsonify(db.get_or_404(Item, item_id).to_dict())


@bp.route(f"/items/{ITEM_ID}", methods=["PATCH", "PUT"])
def update_item(item_id: int):
    item = db.get_or_404(Item, item_id)
    fields = item_fields(partial=request.method == "PATCH")
    if request.method == "PUT":  # a PUT replaces the item: absent means default
        fields.setdefault("description", "")
    for name, value in fields.items():
        setattr(item, name, value)
    db.session.commit()
    return jsonify(item.to_dict())


@bp.delete(f"/items/{ITEM_ID}")
def delete_item(item_id: int):
    db.session.delete(db.get_or_404(Item, item_id))
    db.session.commit()
    return "", 204
