"""The example JSON API: /api/items, list, create, read, update, delete.

Each view declares its request and response shapes as marshmallow schemas:
input is checked against them before it reaches the database (a bad
request is a 4xx JSON body naming the field, never a 500), and they make
the OpenAPI document (openapi.py).
"""

from flask import Response
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from .extensions import db
from .models.item import DESCRIPTION_MAX_LENGTH, NAME_MAX_LENGTH, Item
from .openapi import Blueprint

bp = Blueprint("items", __name__, url_prefix="/api", description="The example resource.")

# The id column is a signed 32-bit INT on MySQL; larger ids cannot exist.
ITEM_ID = "<int(max=2147483647):item_id>"
PAGE_MAX = 100


class Text(fields.String):
    """A string without its surrounding whitespace, which must be valid Unicode text."""

    default_error_messages = {
        "required": "is required",
        "null": "must be a string",
        "invalid": "must be a string",
        "invalid_utf8": "is not valid Unicode text",
    }

    def __init__(self, *, max_length: int, allow_empty: bool = False, **kwargs):
        lengths = [validate.Length(max=max_length, error="must be at most {max} characters")]
        if not allow_empty:
            lengths.insert(0, validate.Length(min=1, error="must not be empty"))
        super().__init__(validate=lengths, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate, which JSON can carry
            raise self.make_error("invalid_utf8") from None
        return text


def whole_number(low: int, high: int, default: int) -> fields.Integer:
    message = f"must be a whole number from {low} to {high}"
    return fields.Integer(
        load_default=default,
        validate=validate.Range(min=low, max=high, error=message),
        error_messages={"invalid": message},
    )


class ItemSchema(Schema):
    error_messages = {
        "type": "the body must be a JSON object",
        "unknown": "is not a field of an item",
    }

    id = fields.Integer(dump_only=True)
    name = Text(max_length=NAME_MAX_LENGTH, required=True)
    description = Text(max_length=DESCRIPTION_MAX_LENGTH, allow_empty=True)
    created_at = fields.DateTime(dump_only=True)  # UTCDateTime: ISO 8601 with +00:00


class ItemChangesSchema(ItemSchema):
    """A PATCH body: any of the fields, none required."""

    name = Text(max_length=NAME_MAX_LENGTH)


class PageQuery(Schema):
    limit = whole_number(1, PAGE_MAX, default=20)
    offset = whole_number(0, 2**31, default=0)


class ItemPageSchema(PageQuery):
    items = fields.List(fields.Nested(ItemSchema), required=True)


@bp.get("/items")
@bp.arguments(PageQuery, location="query", as_kwargs=True)
@bp.response(200, ItemPageSchema)
def list_items(limit: int, offset: int):
    items = db.session.scalars(select(Item).order_by(Item.id).limit(limit).offset(offset))
    return {"items": items, "limit": limit, "offset": offset}


@bp.post("/items")
@bp.arguments(ItemSchema)
@bp.response(201, ItemSchema, headers={"Location": {"description": "the new item's URL"}})
def create_item(values: dict):
    item = Item(**values)
    db.session.add(item)
    db.session.commit()
    return item, {"Location": f"/api/items/{item.id}"}


@bp.get(f"/items/{ITEM_ID}")
@bp.response(200, ItemSchema)
@bp.alt_response(404, response="NOT_FOUND")
def read_item(item_id: int):
    return db.get_or_404(Item, item_id)


def save(item_id: int, values: dict) -> Item:
    item = db.get_or_404(Item, item_id)
    for name, value in values.items():
        setattr(item, name, value)
    db.session.commit()
    return item


@bp.patch(f"/items/{ITEM_ID}")
@bp.arguments(ItemChangesSchema)
@bp.response(200, ItemSchema)
@bp.alt_response(404, response="NOT_FOUND")
def update_item(values: dict, item_id: int):
    return save(item_id, values)


@bp.put(f"/items/{ITEM_ID}")
@bp.arguments(ItemSchema)
@bp.response(200, ItemSchema)
@bp.alt_response(404, response="NOT_FOUND")
def replace_item(values: dict, item_id: int):
    # A PUT replaces the item: an absent field gets its default.
    return save(item_id, {"description": "", **values})


@bp.delete(f"/items/{ITEM_ID}")
@bp.response(204)
@bp.alt_response(404, response="NOT_FOUND")
def delete_item(item_id: int):
    db.session.delete(db.get_or_404(Item, item_id))
    db.session.commit()
    return Response(status=204)
