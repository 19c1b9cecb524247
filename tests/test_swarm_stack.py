"""Every bake's Swarm stack (deploy/swarm) is shaped for a Swarm without IPVS,
read as data. tests/e2e/test_swarm.py runs it on a Swarm of three engines."""

import re

import pytest
import yaml

from harness.bakery import CHOICES, load_compose

STACK = "deploy/swarm/stack.yml"
HAPROXY = "deploy/swarm/haproxy.cfg"
SECRETS = {"secret_key", "mysql_password", "mysql_root_password"}


@pytest.fixture(params=CHOICES["database"])
def project(request, bake):
    return bake(database=request.param)


@pytest.fixture
def stack(project) -> dict:
    return yaml.safe_load((project / STACK).read_text())


def haproxy_directives(project) -> list[list[str]]:
    """haproxy.cfg's directives, each as its words, comments dropped."""
    lines = (line.split("#", 1)[0].split() for line in (project / HAPROXY).read_text().splitlines())
    return [words for words in lines if words]


def test_no_service_needs_a_virtual_ip_or_the_routing_mesh(stack):
    services = stack["services"]
    assert {name for name, s in services.items() if "ports" in s} == {"proxy"}
    for name in ("web", "db"):
        assert services[name]["deploy"]["endpoint_mode"] == "dnsrr", name
    assert all(port["mode"] == "host" for port in services["proxy"]["ports"])
    assert services["proxy"]["deploy"]["mode"] == "global"


def test_web_updates_start_first_gated_on_health_and_roll_back_by_themselves(stack, project):
    web = stack["services"]["web"]
    update, rollback = web["deploy"]["update_config"], web["deploy"]["rollback_config"]
    assert update["order"] == rollback["order"] == "start-first"
    assert update["failure_action"] == "rollback"
    assert update["parallelism"] == 1
    # The gate is readiness, as under Compose.
    compose_web = load_compose(project)["services"]["web"]
    assert web["healthcheck"]["test"] == compose_web["healthcheck"]["test"]
    assert "/health'" in web["healthcheck"]["test"][-1]


def test_web_keeps_the_compose_hardening_swarm_supports(stack, project):
    web, compose_web = stack["services"]["web"], load_compose(project)["services"]["web"]
    for key in ("read_only", "cap_drop", "init", "stop_grace_period"):
        assert web[key] == compose_web[key], key
    assert [v["target"] for v in web["volumes"] if v["type"] == "tmpfs"] == ["/tmp"]


def test_secrets_reach_the_containers_as_files_only(stack):
    assert set(stack["secrets"]) == SECRETS
    assert all(secret["external"] for secret in stack["secrets"].values())
    for name in ("web", "db"):
        service = stack["services"][name]
        environment = service["environment"]
        plain = {"SECRET_KEY", "MYSQL_PASSWORD", "MYSQL_ROOT_PASSWORD", "DATABASE_URL"}
        assert not plain & set(environment), name
        files = {key: value for key, value in environment.items() if key.endswith("_FILE")}
        assert files, name
        assert {value.removeprefix("/run/secrets/") for value in files.values()} == set(
            service["secrets"]
        ), name
    # The web tier never sees the root password.
    assert "mysql_root_password" not in stack["services"]["web"]["secrets"]


def test_the_database_is_pinned_to_the_node_with_its_volume(stack):
    db = stack["services"]["db"]
    assert db["deploy"]["replicas"] == 1
    (constraint,) = db["deploy"]["placement"]["constraints"]
    assert re.fullmatch(r"node\.labels\.[\w-]+\.db == true", constraint)
    assert db["deploy"]["update_config"]["order"] == "stop-first"
    assert "db-data:/var/lib/mysql" in db["volumes"]


def test_the_proxy_discovers_tasks_through_swarm_dns_and_retries_refused_connections(project):
    directives = haproxy_directives(project)
    assert ["nameserver", "dns", "127.0.0.11:53"] in directives
    (template,) = [words for words in directives if words[0] == "server-template"]
    assert template[3] == "tasks.web:8000"
    assert ["retry-on", "conn-failure"] in directives
    assert ["option", "redispatch", "1"] in directives
    (defaults,) = [words for words in directives if words[0] == "default-server"]
    assert {"check", "resolvers"} <= set(defaults)


def test_make_lists_the_swarm_targets(project):
    makefile = (project / "Makefile").read_text()
    targets = re.findall(r"(?m)^(swarm-[a-z-]+):.*## ", makefile)
    assert targets == ["swarm-secrets", "swarm-db-node", "swarm-deploy", "swarm-ps", "swarm-rm"]
    assert "-c $(SWARM_FILE)" in makefile
    assert f"SWARM_FILE := {STACK}" in makefile
