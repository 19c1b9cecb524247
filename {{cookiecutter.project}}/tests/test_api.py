from datetime import UTC, datetime, timedelta

import pytest

ITEMS = "/api/items"


def create(client, **fields):
    response = client.post(ITEMS, json=fields)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_create_then_read_an_item(client):
    item = create(client, name="Tea", description="Green")
    response = client.get(f"{ITEMS}/{item['id']}")
    assert response.status_code == 200
    assert response.get_json()["name"] == "Tea"
    assert response.get_json()["description"] == "Green"


def test_timestamps_are_utc_with_their_offset(client):
    before = datetime.now(UTC)
    created = create(client, name="Tea")
    read = client.get(f"{ITEMS}/{created['id']}").get_json()
    for body in (created, read):
        stamp = datetime.fromisoformat(body["created_at"])
        assert stamp.utcoffset() == timedelta(0), body["created_at"]
        # MySQL's DATETIME keeps whole seconds, rounded: allow one either side.
        assert before - timedelta(seconds=1) <= stamp <= datetime.now(UTC) + timedelta(seconds=1)


def test_create_answers_with_the_location_of_the_new_item(client):
    response = client.post(ITEMS, json={"name": "Tea"})
    assert response.headers["Location"] == f"{ITEMS}/{response.get_json()['id']}"


def test_list_items_in_creation_order_with_paging(client):
    for name in ("a", "b", "c"):
        create(client, name=name)
    assert [i["name"] for i in client.get(ITEMS).get_json()["items"]] == ["a", "b", "c"]
    page = client.get(f"{ITEMS}?limit=1&offset=1").get_json()
    assert [i["name"] for i in page["items"]] == ["b"]


def test_patch_changes_only_the_given_fields(client):
    item = create(client, name="Tea", description="Green")
    response = client.patch(f"{ITEMS}/{item['id']}", json={"description": "Black"})
    assert response.status_code == 200
    assert response.get_json()["name"] == "Tea"
    assert response.get_json()["description"] == "Black"


@pytest.mark.parametrize("name", ["", "   "])
def test_patch_refuses_an_empty_name(client, name):
    item = create(client, name="Tea")
    response = client.patch(f"{ITEMS}/{item['id']}", json={"name": name})
    assert response.status_code == 422
    assert "must not be empty" in response.get_json()["message"]


def test_put_replaces_the_item(client):
    item = create(client, name="Tea", description="Green")
    response = client.put(f"{ITEMS}/{item['id']}", json={"name": "Coffee"})
    assert response.get_json()["name"] == "Coffee"
    assert response.get_json()["description"] == ""


def test_delete_removes_the_item(client):
    item = create(client, name="Tea")
    assert client.delete(f"{ITEMS}/{item['id']}").status_code == 204
    assert client.get(f"{ITEMS}/{item['id']}").status_code == 404


def test_unicode_beyond_the_basic_plane_round_trips(client):
    # utf8mb4 on MySQL: a 4-byte emoji would fail or be mangled under utf8mb3.
    item = create(client, name="Café 🍵 茶", description="𝄞 and ☕")
    fetched = client.get(f"{ITEMS}/{item['id']}").get_json()
    assert fetched["name"] == "Café 🍵 茶"
    assert fetched["description"] == "𝄞 and ☕"


def test_sql_looking_text_is_stored_as_text(client):
    name = "'; DROP TABLE items; --"
    item = create(client, name=name)
    assert client.get(f"{ITEMS}/{item['id']}").get_json()["name"] == name
    assert len(client.get(ITEMS).get_json()["items"]) == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "'name' is required"),
        ({"name": ""}, "must not be empty"),
        ({"name": "   "}, "must not be empty"),
        ({"name": 42}, "must be a string"),
        ({"name": None}, "must be a string"),
        ({"name": ["Tea"]}, "must be a string"),
        ({"name": "x" * 121}, "at most 120"),
        ({"name": "Tea", "description": "x" * 1001}, "at most 1000"),
        ({"name": "Tea", "price": 3}, "'price' is not a field of an item"),
        ({"name": "\ud800"}, "not valid Unicode"),
        ([{"name": "Tea"}], "JSON object"),
        ("Tea", "JSON object"),
    ],
)
def test_invalid_bodies_get_a_422_saying_why(client, body, message):
    response = client.post(ITEMS, json=body)
    assert response.status_code == 422
    assert set(response.get_json()) == {"error", "message"}
    assert message in response.get_json()["message"]


def test_malformed_json_gets_a_400(client):
    response = client.post(ITEMS, data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.is_json


def test_deeply_nested_json_gets_a_400(client):
    # Under the size limit, but deeper than the JSON parser's recursion limit.
    response = client.post(ITEMS, data="[" * 50_000, content_type="application/json")
    assert response.status_code == 400
    assert response.is_json


def test_a_body_that_is_not_json_gets_a_415(client):
    response = client.post(ITEMS, data="name=Tea")
    assert response.status_code == 415
    assert response.is_json


def test_an_oversized_body_gets_a_413(client):
    response = client.post(ITEMS, json={"name": "x" * 100_000})
    assert response.status_code == 413
    assert response.is_json


@pytest.mark.parametrize("path", ["/999999", "/2147483647"])
def test_unknown_ids_get_a_404(client, path):
    response = client.get(ITEMS + path)
    assert response.status_code == 404
    assert response.is_json


def test_ids_beyond_the_column_range_get_a_404_not_a_500(client):
    assert client.get(f"{ITEMS}/99999999999999999999").status_code == 404


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=x", "offset=-1"])
def test_bad_paging_gets_a_422_naming_the_parameter(client, query):
    response = client.get(f"{ITEMS}?{query}")
    assert response.status_code == 422
    name = query.split("=")[0]
    assert response.get_json()["message"].startswith(f"'{name}' must be a whole number")


def test_wrong_method_gets_a_json_405(client):
    response = client.delete(ITEMS)
    assert response.status_code == 405
    assert response.is_json
    # RFC 9110: a 405 names the methods the resource has.
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}
