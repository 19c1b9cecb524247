"""GET /api/items without a framework: the floor the app's read is compared with.

The same query and the same JSON as the baked app's list endpoint (first page,
20 items, ordered by id), from a plain WSGI function on PyMySQL, served by the
same gunicorn settings in the same image. What the app costs beyond this is
what Flask, SQLAlchemy and its pool cost. One connection per thread, opened
on first use: a PyMySQL connection serves one query at a time, and gunicorn's
gthread workers serve a request per thread.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC

import pymysql

QUERY = "SELECT id, name, description, created_at FROM items ORDER BY id LIMIT %s OFFSET %s"
LIMIT, OFFSET = 20, 0
_local = threading.local()


def connection() -> pymysql.Connection:
    if getattr(_local, "connection", None) is None:
        _local.connection = pymysql.connect(
            # As the app reads them (config.py): Compose passes both, empty when unset.
            host=os.environ.get("DB_HOST") or "db",
            port=int(os.environ.get("DB_PORT") or 3306),
            user=os.environ["MYSQL_USER"],
            password=os.environ["MYSQL_PASSWORD"],
            database=os.environ["MYSQL_DATABASE"],
            autocommit=True,
        )
    return _local.connection


def items() -> list[dict]:
    with connection().cursor() as cursor:
        cursor.execute(QUERY, (LIMIT, OFFSET))
        return [
            {
                "id": id_,
                "name": name,
                "description": description,
                "created_at": created_at.replace(tzinfo=UTC).isoformat(),
            }
            for id_, name, description, created_at in cursor.fetchall()
        ]


def application(environ, start_response):
    if environ["PATH_INFO"] != "/api/items":
        start_response("404 Not Found", [("Content-Type", "application/json")])
        return [b'{"error": "not found"}']
    body = json.dumps({"items": items(), "limit": LIMIT, "offset": OFFSET}).encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]
