"""Secrets, exposure, hostile input and `make doctor`, on a running stack."""

import json
import socket

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


@pytest.fixture(scope="module")
def production_stack(make_stack_module):
    """One production stack (gunicorn, no override) shared by this module's read-only tests."""
    stack = make_stack_module(initialised=True, production=True)
    stack.up()
    return stack


def env_of(container: dict) -> dict:
    return dict(item.split("=", 1) for item in container["Config"]["Env"])


def test_secrets_stay_out_of_the_image_and_away_from_web(production_stack, figures):
    stack = production_stack
    web = stack.inspect("web")
    image = web["Config"]["Image"]
    listing = stack.run(
        ["docker", "run", "--rm", "--entrypoint", "ls", image, "-A", "/app"], check=True
    )
    assert ".env" not in listing.stdout.split()
    assert "MYSQL_ROOT_PASSWORD" not in env_of(web)
    uid = stack.compose("exec", "-T", "web", "id", "-u").stdout.strip()
    assert uid != "0"
    figures.setdefault("secrets and exposure", {}).update(
        {".env in the image": "no", "root password in web's env": "no", "web's uid": uid}
    )


def test_the_app_connects_as_its_own_user_with_rights_on_its_databases_only(
    production_stack, figures
):
    stack = production_stack
    grants = stack.db_query("SHOW GRANTS FOR CURRENT_USER()")
    database = stack.db_query("SELECT DATABASE()")
    granted_on = set()
    for grant in grants.splitlines():
        target = grant.split(" ON ")[1].split(" TO ")[0]
        if not grant.startswith("GRANT USAGE"):
            # Underscores come escaped (`flask\_app`): "_" is a wildcard in grants.
            granted_on.add(target.replace("`", "").replace("\\", ""))
    assert granted_on == {f"{database}.*", f"{database}_test.*"}, grants
    user = stack.compose("exec", "-T", "web", "python", "-c", (
        "from flask_app import create_app\n"
        "from flask_app.extensions import db\n"
        "from sqlalchemy import text\n"
        "with create_app().app_context():\n"
        "    print(db.session.scalar(text('SELECT CURRENT_USER()')))"
    )).stdout.strip()  # fmt: skip
    assert user.startswith(f"{database}@"), user
    figures.setdefault("secrets and exposure", {})["app's database user"] = user


def test_ports_are_published_on_loopback_only(production_stack, figures):
    stack = production_stack
    for service in ("web", "db"):
        bindings = stack.inspect(service)["HostConfig"]["PortBindings"]
        hosts = {b["HostIp"] for ports in bindings.values() for b in ports}
        assert hosts == {"127.0.0.1"}, (service, bindings)
    figures.setdefault("secrets and exposure", {})["published on"] = "127.0.0.1 only"


def test_web_runs_read_only_without_capabilities_and_still_serves(production_stack, figures):
    stack = production_stack
    host = stack.inspect("web")["HostConfig"]
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"]
    assert "no-new-privileges:true" in host["SecurityOpt"]
    # The image's files, the app's own folder included, cannot be changed...
    for path in ("/app/written", "/usr/local/written"):
        write = stack.compose("exec", "-T", "web", "touch", path, check=False)
        assert write.returncode != 0 and "Read-only file system" in write.stderr, write.stderr
    # ...while /tmp, a tmpfs, takes temporary files.
    tmp = stack.compose("exec", "-T", "web", "sh", "-c", "echo ok >/tmp/x && cat /tmp/x")
    assert tmp.stdout.strip() == "ok"
    # Gunicorn's workers (heartbeat files in /dev/shm) serve a write and a read.
    created = stack.http("POST", "/api/items", {"name": "read-only root"})
    assert created.status == 201, created.body
    read = stack.http("GET", f"/api/items/{created.body['id']}")
    assert read.status == 200 and read.body["name"] == "read-only root", read.body
    figures.setdefault("secrets and exposure", {}).update(
        {"web's root filesystem": "read-only (/tmp: tmpfs)", "web's capabilities": "none"}
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [("SECRET_KEY=change-me", "SECRET_KEY"), ("FLASK_DEBUG=1", "debug mode is on")],
)
def test_production_refuses_a_placeholder_secret_and_debug(production_stack, env, message):
    result = production_stack.compose(
        "run", "--rm", "--no-deps", "-e", env, "web", check=False, timeout=120
    )
    assert result.returncode != 0
    assert message in result.stdout + result.stderr


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=10,
)
BODIES = (
    st.fixed_dictionaries({}, optional={"name": JSON, "description": JSON, "extra": JSON}) | JSON
)
REQUESTS = st.tuples(
    st.sampled_from(["POST /api/items", "PATCH /api/items/1", "PUT /api/items/1"]), BODIES
)
RAW = st.binary(max_size=300)


def raw_request(port: int, method_path: str, body: bytes, content_type="application/json") -> int:
    """Send bytes as a request body, return the status (no client-side JSON encoding)."""
    method, path = method_path.split()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(
            f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        reply = connection.makefile("rb").read()
    status = int(reply.split(b" ", 2)[1])
    json.loads(reply.split(b"\r\n\r\n", 1)[1] or b"{}")  # every answer is JSON
    return status


def test_hostile_input_gets_a_4xx_json_answer_never_a_5xx(production_stack, figures):
    stack = production_stack
    assert stack.http("POST", "/api/items", {"name": "seed"}).status == 201
    statuses = []

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(REQUESTS)
    def json_bodies(request):
        method_path, body = request
        status = raw_request(stack.web_port, method_path, json.dumps(body).encode())
        statuses.append(status)
        assert status < 500, (method_path, body)

    @settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
    @given(RAW, st.sampled_from(["application/json", "text/plain"]))
    def raw_bodies(body, content_type):
        status = raw_request(stack.web_port, "POST /api/items", body, content_type)
        statuses.append(status)
        assert status < 500, body

    json_bodies()
    raw_bodies()
    for path in ("/api/items/0", "/api/items/99999999999999999999", "/api/items?limit=-1"):
        statuses.append(stack.http("GET", path).status)
        assert 400 <= statuses[-1] < 500, path
    oversized = raw_request(stack.web_port, "POST /api/items", b'{"name": "' + b"x" * 70000 + b'"}')
    assert oversized == 413
    assert max(statuses) < 500
    figures["bad input"] = {
        "requests tried": len(statuses) + 1,
        "answers by status": ", ".join(
            f"{code}: {statuses.count(code)}" for code in sorted(set(statuses))
        ),
        "5xx answers": 0,
    }
