"""Every supported combination of answers bakes a clean, consistent project."""

import itertools
import re
import shutil

import pytest
import yaml

from bakery import CHOICES, TEMPLATE, require, run

COMBINATIONS = [
    dict(zip(("database", "db_storage", "example_api"), values, strict=True))
    for values in itertools.product(
        CHOICES["database"], CHOICES["db_storage"], CHOICES["example_api"]
    )
]
EXPECTED_FILES = [
    ".env",
    ".env.example",
    ".gitignore",
    ".dockerignore",
    ".gitattributes",
    "Dockerfile",
    "docker-compose.yml",
    "docker-compose.override.yml",
    "Makefile",
    "README.md",
    "pyproject.toml",
    "uv.lock",
    "gunicorn.conf.py",
    "bin/docker-entrypoint",
    "docker/db-init/10-test-database.sh",
    "migrations/alembic.ini",
    "migrations/env.py",
    "migrations/script.py.mako",
    "migrations/README",
    "tests/conftest.py",
]


def combination_id(answers: dict) -> str:
    return "-".join(f"{value}" for value in answers.values())


@pytest.fixture(params=COMBINATIONS, ids=combination_id)
def project(request, bake):
    return bake(**request.param), request.param


def test_every_expected_file_is_baked(project):
    path, answers = project
    for name in EXPECTED_FILES:
        assert (path / name).is_file(), name
    api_files = [path / "flask_app" / "api.py", path / "tests" / "test_api.py"]
    assert all(f.exists() == (answers["example_api"] == "yes") for f in api_files)


def test_nothing_is_left_unrendered(project):
    path, _ = project
    for file in path.rglob("*"):
        if file.is_file() and file.name != "script.py.mako":
            # Go templates ({{.Service}}) in bin/show-failure are meant to stay.
            assert not re.search(r"\{\{\s*cookiecutter|\{%|%\}|\{#", file.read_text()), file


def test_no_file_or_folder_is_baked_under_a_database_mount(project):
    path, _ = project
    # mysqld refuses to initialise a data directory that holds anything.
    assert not (path / "db").exists()
    assert "db-data:/var/lib/mysql" in (path / "docker-compose.yml").read_text() or (
        "./db/data:/var/lib/mysql" in (path / "docker-compose.yml").read_text()
    )


def test_the_code_passes_ruff(project):
    path, _ = project
    for args in (["check", "."], ["format", "--check", "."]):
        result = run(["ruff", *args], path)
        assert result.returncode == 0, result.stdout + result.stderr


def test_the_shell_scripts_pass_shellcheck(project):
    path, _ = project
    if not shutil.which("shellcheck"):
        require("lint", "shellcheck is not installed")
    scripts = [*sorted((path / "bin").iterdir()), *sorted((path / "docker/db-init").iterdir())]
    result = run(["shellcheck", "--shell=sh", *map(str, scripts)], path)
    assert result.returncode == 0, result.stdout


def test_the_compose_files_are_valid(project):
    path, _ = project
    if run(["docker", "compose", "version"], path).returncode != 0:
        require("compose", "docker compose (v2) is not installed")
    result = run(["docker", "compose", "config", "--quiet"], path)
    assert result.returncode == 0, result.stderr
    production = run(["docker", "compose", "-f", "docker-compose.yml", "config", "--quiet"], path)
    assert production.returncode == 0, production.stderr


@pytest.mark.parametrize("python_version", CHOICES["python_version"])
def test_the_python_version_picks_the_base_image(bake, python_version):
    path = bake(python_version=python_version)
    image = f"python:{python_version}-slim"
    assert f"ARG PYTHON_IMAGE={image}" in (path / "Dockerfile").read_text()
    assert f"PYTHON_IMAGE:-{image}" in (path / "docker-compose.yml").read_text()


@pytest.mark.parametrize(
    ("database", "image", "client"),
    [
        ("mysql-8.4", "mysql:8.4", "mysql"),
        ("mysql-9.7", "mysql:9.7", "mysql"),
        ("mariadb-11.8", "mariadb:11.8", "mariadb"),
    ],
)
def test_the_database_is_pinned_by_minor_tag_with_its_own_client(bake, database, image, client):
    compose = yaml.safe_load((bake(database=database) / "docker-compose.yml").read_text())
    db = compose["services"]["db"]
    assert db["image"] == f"${{MYSQL_IMAGE:-{image}}}"
    probe = db["healthcheck"]["test"][1].split()
    assert probe[0] == client and probe[probe.index("-h") + 1] == "127.0.0.1"
    assert "--protocol=TCP" in probe
    # MySQL's client asks for the server's RSA key, so a login without TLS works.
    assert ("--get-server-public-key" in probe) == (client == "mysql")
    assert ("--collation-server=utf8mb4_unicode_ci" in db["command"]) == (client == "mariadb")
    # Gone in MySQL 8.4, refused by mysqld at start.
    assert not any("default-authentication-plugin" in flag for flag in db["command"])


def test_db_port_none_leaves_the_database_unpublished(bake):
    compose = (bake(db_port="none") / "docker-compose.yml").read_text()
    assert ':3306"' not in compose
    assert "127.0.0.1:${WEB_PORT-8000}:8000" in compose


def test_ports_are_bound_to_loopback_only(bake):
    compose = (bake(web_port="8080", db_port="3307") / "docker-compose.yml").read_text()
    assert '"127.0.0.1:${WEB_PORT-8080}:8000"' in compose
    assert '"127.0.0.1:${DB_PUBLISHED_PORT:-3307}:3306"' in compose


def test_the_web_service_can_scale(bake):
    compose = (bake() / "docker-compose.yml").read_text()
    assert "container_name" not in compose


def test_no_compose_file_has_an_obsolete_version_key(bake):
    path = bake()
    for name in ("docker-compose.yml", "docker-compose.override.yml"):
        assert not re.search(r"^version:", (path / name).read_text(), re.MULTILINE)


def test_the_entrypoint_hands_over_with_exec(bake):
    entrypoint = (bake() / "bin" / "docker-entrypoint").read_text()
    assert "set -eu" in entrypoint
    assert entrypoint.rstrip().endswith('exec "$@"')
    assert "flask db upgrade" in entrypoint
    assert "flask db migrate" not in entrypoint


def test_scripts_are_executable(bake):
    path = bake()
    for script in [*(path / "bin").iterdir(), *(path / "docker/db-init").iterdir()]:
        assert script.stat().st_mode & 0o111, script


def test_the_makefile_lists_every_daily_target(bake):
    path = bake()
    result = run(["make", "help"], path)
    assert result.returncode == 0, result.stderr
    for target in (
        "up", "down", "restart", "logs", "ps", "shell", "dbshell", "migrate", "upgrade",
        "downgrade", "history", "current", "heads", "check", "revision", "show", "branches",
        "stamp", "merge", "db", "test", "lint", "fmt", "backup", "restore", "reset-db",
        "clean", "local", "local-test", "prod-up", "doctor", "add", "lock", "upgrade-deps",
        "outdated",
    ):  # fmt: skip
        assert re.search(rf"^  make {re.escape(target)} ", result.stdout, re.MULTILINE), target


def test_make_migrate_without_a_message_says_how_to_use_it(bake):
    result = run(["make", "migrate", "COMPOSE=false"], bake())
    assert result.returncode == 2
    assert 'usage: make migrate m="what changed"' in result.stderr


def test_destructive_targets_refuse_without_confirmation(bake):
    path = bake()
    result = run(["make", "reset-db", "COMPOSE=false"], path)
    assert result.returncode != 0
    assert "refusing without confirmation" in result.stderr


def test_the_readme_documents_every_make_target(bake):
    path = bake()
    readme = (path / "README.md").read_text()
    targets = re.findall(r"^([a-z-]+):.*## ", (path / "Makefile").read_text(), re.MULTILINE)
    for target in targets:
        assert f"make {target}" in readme, target


def test_the_template_folder_is_the_only_project_folder():
    assert (TEMPLATE / "{{cookiecutter.project}}").is_dir()


def test_only_development_runs_the_lighter_database_settings(bake):
    path = bake()
    mount = "./docker/db-development.cnf:/etc/mysql/conf.d/development.cnf:ro"
    override = yaml.safe_load((path / "docker-compose.override.yml").read_text())
    production = yaml.safe_load((path / "docker-compose.yml").read_text())
    assert mount in override["services"]["db"]["volumes"]
    assert not any("development.cnf" in mount for mount in production["services"]["db"]["volumes"])
    assert "innodb_buffer_pool_size" in (path / "docker/db-development.cnf").read_text()
