"""Every supported combination of answers bakes a clean, consistent project."""

import functools
import hashlib
import itertools
import json
import os
import re
import runpy
import shutil
import sys

import pytest
import yaml

from harness.bakery import CHOICES, TEMPLATE, bake_cli, env_values, load_compose, require, run

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
    "dev_wsgi.py",
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
    path, answers = project
    # mysqld refuses to initialise a data directory that holds anything.
    assert not (path / "db").exists()
    compose = load_compose(path)
    source = {"volume": "db-data", "bind": "./db/data"}[answers["db_storage"]]
    assert f"{source}:/var/lib/mysql" in compose["services"]["db"]["volumes"]
    assert ("db-data" in compose.get("volumes", {})) == (answers["db_storage"] == "volume")


def test_the_code_passes_ruff(project):
    path, _ = project
    for args in (["check", "."], ["format", "--check", "."]):
        result = run(["ruff", *args], path)
        assert result.returncode == 0, result.stdout + result.stderr


# Compose's -f flags for the development stack (with the override) and the production one.
DEVELOPMENT_AND_PRODUCTION = ([], ["-f", "docker-compose.yml"])

# The twelve combinations render only a few different scripts and Compose
# files: a slow check runs once per distinct content of the files it reads,
# and a combination whose files are the same gets the same verdict.
VERDICTS: dict[str, str] = {}


def once_per_content(check, files: list) -> str:
    """check()'s verdict ("" when it passes) for these files' content."""
    digest = hashlib.sha256(check.__name__.encode())
    for file in files:
        digest.update(str(file.name).encode() + hashlib.sha256(file.read_bytes()).digest())
    key = digest.hexdigest()
    if key not in VERDICTS:
        VERDICTS[key] = check()
    return VERDICTS[key]


def test_the_shell_scripts_pass_shellcheck(project):
    path, _ = project
    if not shutil.which("shellcheck"):
        require("lint", "shellcheck is not installed")
    scripts = [*sorted((path / "bin").iterdir()), *sorted((path / "docker/db-init").iterdir())]

    def shellcheck() -> str:
        result = run(["shellcheck", "--shell=sh", *map(str, scripts)], path)
        return "" if result.returncode == 0 else result.stdout

    assert once_per_content(shellcheck, scripts) == ""


@functools.cache
def compose_installed() -> bool:
    return run(["docker", "compose", "version"], TEMPLATE).returncode == 0


def test_the_compose_files_are_valid(project):
    path, _ = project
    if not compose_installed():
        require("compose", "docker compose (v2) is not installed")

    def compose_config() -> str:
        for files in DEVELOPMENT_AND_PRODUCTION:
            result = run(["docker", "compose", *files, "config", "--quiet"], path)
            if result.returncode != 0:
                return result.stderr
        return ""

    # .env is .env.example with fresh secrets, whose values do not change the verdict.
    read = ["docker-compose.yml", "docker-compose.override.yml", ".env.example"]
    assert once_per_content(compose_config, [path / name for name in read]) == ""


@pytest.mark.parametrize("python_version", CHOICES["python_version"])
def test_the_python_version_picks_the_base_image(bake, python_version):
    path = bake(python_version=python_version)
    image = f"python:{python_version}-slim"
    assert f"ARG PYTHON_IMAGE={image}" in (path / "Dockerfile").read_text()
    build_args = load_compose(path)["services"]["web"]["build"]["args"]
    assert build_args["PYTHON_IMAGE"] == f"${{PYTHON_IMAGE:-{image}}}"


@pytest.mark.parametrize(
    ("database", "image", "client"),
    [
        ("mysql-8.4", "mysql:8.4", "mysql"),
        ("mysql-9.7", "mysql:9.7", "mysql"),
        ("mariadb-11.8", "mariadb:11.8", "mariadb"),
    ],
)
def test_the_database_is_pinned_by_minor_tag_with_its_own_client(bake, database, image, client):
    db = load_compose(bake(database=database))["services"]["db"]
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
    services = load_compose(bake(db_port="none"))["services"]
    assert "ports" not in services["db"]
    assert services["web"]["ports"] == ["127.0.0.1:${WEB_PORT-8000}:8000"]


def test_ports_are_bound_to_loopback_only(bake):
    services = load_compose(bake(web_port="8080", db_port="3307"))["services"]
    assert services["web"]["ports"] == ["127.0.0.1:${WEB_PORT-8080}:8000"]
    assert services["db"]["ports"] == ["127.0.0.1:${DB_PUBLISHED_PORT:-3307}:3306"]


def test_the_web_service_can_scale(bake):
    path = bake()
    for name in ("docker-compose.yml", "docker-compose.override.yml"):
        services = load_compose(path, name)["services"]
        assert not any("container_name" in service for service in services.values())


def test_no_compose_file_has_an_obsolete_version_key(bake):
    path = bake()
    for name in ("docker-compose.yml", "docker-compose.override.yml"):
        assert "version" not in load_compose(path, name)


def test_the_entrypoint_hands_over_with_exec(bake):
    entrypoint = (bake() / "bin" / "docker-entrypoint").read_text()
    assert "set -eu" in entrypoint
    assert entrypoint.rstrip().endswith('exec "$@"')
    # gunicorn waits and migrates in its master; anything else waits here.
    assert "gunicorn) ;;" in entrypoint
    assert "flask wait-for-db --upgrade" in entrypoint
    assert "flask db migrate" not in entrypoint


@pytest.mark.parametrize(("setting", "passed"), [("", None), ("3", "3")])
def test_an_empty_web_concurrency_means_the_default(bake, tmp_path, setting, passed):
    """gunicorn reads WEB_CONCURRENCY itself and fails on an empty one: the
    entrypoint leaves it unset, so gunicorn.conf.py's default holds."""
    probe = tmp_path / "gunicorn"  # what the entrypoint execs, as a probe of its environment
    probe.write_text('#!/bin/sh\necho "WEB_CONCURRENCY=${WEB_CONCURRENCY-unset}"\n')
    probe.chmod(0o755)
    path = bake()
    result = run(["sh", "bin/docker-entrypoint", "gunicorn"], path,
                 PATH=f"{tmp_path}:{os.environ['PATH']}", WEB_CONCURRENCY=setting)  # fmt: skip
    assert result.stdout.strip() == f"WEB_CONCURRENCY={passed or 'unset'}", result.stderr


def test_the_server_prepares_before_it_listens(bake):
    """gunicorn's on_starting hook runs before the socket is bound: it must migrate."""
    config = (bake() / "gunicorn.conf.py").read_text()
    on_starting = config[config.index("def on_starting(") :].split("\ndef ")[0]
    assert "startup.prepare(create_app())" in on_starting
    assert "preload_app = not DEVELOPMENT" in config


def test_requests_in_flight_finish_before_the_container_is_killed(bake):
    """gunicorn's graceful_timeout sits below Compose's and Kubernetes' grace periods."""
    path = bake()
    config = runpy.run_path(str(path / "gunicorn.conf.py"), run_name="gunicorn_conf")
    stop_grace = load_compose(path)["services"]["web"]["stop_grace_period"]
    assert config["graceful_timeout"] < int(stop_grace.removesuffix("s"))
    deployment = yaml.safe_load((path / "deploy/kubernetes/base/deployment.yaml").read_text())
    assert (
        config["graceful_timeout"]
        < deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    )


def test_scripts_are_executable(bake):
    path = bake()
    for script in [*(path / "bin").iterdir(), *(path / "docker/db-init").iterdir()]:
        assert script.stat().st_mode & 0o111, script


def test_make_help_lists_every_target_once_in_aligned_columns(bake):
    path = bake()
    result = run(["make", "help"], path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    listed = [re.match(r"  make (\S+) +\S", line).group(1) for line in lines]
    defined = re.findall(r"(?m)^([a-z][a-z-]*):", (path / "Makefile").read_text())
    assert sorted(listed) == sorted(defined)
    # Every description starts in the same column.
    assert len({len(re.match(r"  make \S+ +", line).group()) for line in lines}) == 1


def test_make_migrate_without_a_message_says_how_to_use_it(bake):
    result = run(["make", "migrate", "COMPOSE=false"], bake())
    assert result.returncode == 2
    assert 'usage: make migrate m="what changed"' in result.stderr


def test_destructive_targets_refuse_without_confirmation(bake):
    path = bake()
    result = run(["make", "reset-db", "COMPOSE=false"], path)
    assert result.returncode != 0
    assert "refusing without confirmation" in result.stderr


FAKE_DOCKER = """#!{python}
# Records its arguments, a JSON list a line (and with FAKE_STDIN=PATH, the
# stdin of `compose run` in that file), and runs nothing. It answers the
# version queries of bin/doctor; FAKE_NO_COMPOSE=1 plays a Docker without
# the Compose v2 plugin.
import json, os, sys

args = sys.argv[1:]
with open({log!r}, "a") as log:
    log.write(json.dumps(args) + "\\n")
if args[:1] == ["compose"] and os.environ.get("FAKE_NO_COMPOSE") == "1":
    sys.exit("docker: 'compose' is not a docker command.")
if os.environ.get("FAKE_STDIN") and args[:2] == ["compose", "run"]:
    with open(os.environ["FAKE_STDIN"], "wb") as copy:
        copy.write(sys.stdin.buffer.read())
if args[:2] == ["compose", "version"]:
    print("2.40.3")
elif args[:1] == ["version"]:
    print("28.5.2")
"""


@pytest.fixture
def fake_make(tmp_path):
    """Run make in a project with a fake `docker` first in PATH; return (result, its calls)."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    log = tmp_path / "docker-calls.jsonl"
    docker = bin_dir / "docker"
    docker.write_text(FAKE_DOCKER.format(python=sys.executable, log=str(log)))
    docker.chmod(0o755)

    def make(project, *args, **env):
        log.unlink(missing_ok=True)
        # Empty ports: bin/doctor skips its checks of this host's ports.
        result = run(["make", *args], project, PATH=f"{bin_dir}:{os.environ['PATH']}",
                     WEB_PORT="", DB_PUBLISHED_PORT="", **env)  # fmt: skip
        calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        return result, calls

    return make


def test_make_up_asks_compose_for_its_version_once(bake, fake_make):
    result, calls = fake_make(bake(), "up")
    assert result.returncode == 0, result.stderr
    assert [call for call in calls if call[:2] == ["compose", "version"]] == [
        ["compose", "version", "--short"]
    ]
    # One `up`: a second would start again a web that stopped on a failed migration.
    ups = [call for call in calls if call[:2] == ["compose", "up"]]
    assert ups == [["compose", "up", "--detach", "--build", "--wait", "--wait-timeout", "300"]]


def test_make_up_without_compose_v2_says_what_to_install(bake, fake_make):
    result, calls = fake_make(bake(), "up", FAKE_NO_COMPOSE="1")
    assert result.returncode != 0
    assert "install the Docker Compose v2 plugin" in result.stderr
    assert not any(call[:2] == ["compose", "up"] for call in calls)


# What the targets pass on must be exactly what was typed: quotes, $, ;,
# backticks and $(...) included, and none of them run.
MESSAGE = 'say "hi", it costs $5'
HOSTILE = "it's `touch pwned` $(touch pwned); touch pwned"
FLASK = ["compose", "run", "--rm", "--no-deps", "-e", "SKIP_MIGRATIONS=1", "web", "flask"]
UV = ["compose", "run", "--rm", "--no-deps", "--build", "--quiet-build", "--quiet-pull", "uv"]
# (make's arguments, the docker call they must make)
PASSED_VALUES = [
    (["migrate", f"m={MESSAGE}"], [*FLASK, "db", "migrate", "-m", MESSAGE]),
    (["revision", f"m={HOSTILE}"], [*FLASK, "db", "revision", "-m", HOSTILE]),
    (["db", f"cmd=stamp {HOSTILE}"], [*FLASK, "db", "stamp", *HOSTILE.split()]),
    (["upgrade"], [*FLASK, "db", "upgrade", "head"]),
    (["downgrade"], [*FLASK, "db", "downgrade", "--", "-1"]),
    (["upgrade", "rev=$x"], [*FLASK, "db", "upgrade", "$x"]),
    # Lists of arguments: split on blanks, never globbed or run.
    (["db", "cmd=edit head; *"], [*FLASK, "db", "edit", "head;", "*"]),
    # pytest splits PYTEST_ADDOPTS with shell quoting, and runs nothing.
    (["test", "args=-k 'a or b' $(touch pwned)"],
     ["compose", "run", "--rm", "--no-deps", "-e", "SKIP_MIGRATIONS=1", "-e",
      "PYTEST_ADDOPTS=-k 'a or b' $(touch pwned)", "web", "pytest"]),
    (["add", f"package={HOSTILE}", "group=dev"],
     [*UV, "add", "--no-sync", "--group", "dev", HOSTILE]),
    (["upgrade-deps", f"package={HOSTILE}"], [*UV, "lock", "--upgrade-package", HOSTILE]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("arguments", "call"), PASSED_VALUES, ids=[arguments[0] for arguments, _ in PASSED_VALUES]
)
def test_values_given_to_make_reach_the_command_as_data(bake, fake_make, arguments, call):
    project = bake()
    result, calls = fake_make(project, *arguments)
    assert result.returncode == 0, result.stderr
    assert calls == [call]
    assert not (project / "pwned").exists()


def test_make_restore_takes_any_file_name_as_data(bake, fake_make, tmp_path):
    project = bake()
    name = "it's $(touch pwned).sql"
    (project / name).write_text("not a dump\n")
    stdin = tmp_path / "stdin"
    result, calls = fake_make(project, "restore", f"file={name}", "confirm=yes",
                              FAKE_STDIN=str(stdin))  # fmt: skip
    assert result.returncode == 0, result.stderr
    # The restore service gets the name as typed (it names the file in its
    # messages) and the file on stdin, in a container of its own name, which
    # make removes afterwards.
    [run_call, remove] = calls
    container = run_call[run_call.index("--name") + 1]
    assert run_call == ["compose", "run", "--name", container, "-T", "restore", name]
    assert re.fullmatch(r"restore-[0-9-]+", container) and remove == ["rm", container]
    assert stdin.read_text() == "not a dump\n"
    assert not (project / "pwned").exists()


def test_only_the_database_and_the_restore_service_get_the_root_password(bake):
    """web never sees it; restore needs it to create and drop databases."""
    project = bake()
    if not compose_installed():
        require("compose", "docker compose (v2) is not installed")
    password = env_values(project / ".env")["MYSQL_ROOT_PASSWORD"]
    for files in DEVELOPMENT_AND_PRODUCTION:
        result = run(["docker", "compose", *files, "--profile", "tools", "config",
                      "--format", "json"], project)  # fmt: skip
        assert result.returncode == 0, result.stderr
        services = json.loads(result.stdout)["services"]
        holders = {name for name, service in services.items() if password in json.dumps(service)}
        assert holders == {"db", "restore"}, files
        assert services["restore"]["environment"]["MYSQL_ROOT_PASSWORD"] == password
        # The web image, hardened as web is.
        web, restore = services["web"], services["restore"]
        assert restore["image"] == web["image"] and restore["build"] == web["build"]
        for key in ("read_only", "cap_drop", "security_opt", "init"):
            assert restore[key] == web[key], key
        # /tmp holds the dump: no size limit.
        assert restore["tmpfs"] == ["/tmp"]
        assert restore["depends_on"]["db"]["condition"] == "service_healthy"
        assert restore["profiles"] == ["tools"]


FAKE_ID = """#!/bin/sh
case "$1" in -u) echo "${FAKE_UID}" ;; -g) echo "${FAKE_GID}" ;; esac
"""
# The project as Compose resolves it with what the Makefile exports.
CONFIG = "config: ; @$(COMPOSE) --profile tools config --format json"


@pytest.mark.parametrize(
    ("uid", "gid", "assignments", "as_root"),
    [
        ("1234", "5678", [], False),
        ("0", "0", [], True),
        ("0", "5678", [], True),
        ("1234", "5678", ["HOST_UID=0", "HOST_GID=0"], True),
    ],
    ids=["user", "root", "root-uid", "root-passed"],
)
def test_development_containers_run_as_you_but_never_as_root(
    bake, tmp_path, uid, gid, assignments, as_root
):
    project = bake()
    if not compose_installed():
        require("compose", "docker compose (v2) is not installed")
    # `id` as a host user of these ids would answer.
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    (bin_dir / "id").write_text(FAKE_ID)
    (bin_dir / "id").chmod(0o755)
    result = run(
        ["make", "--no-print-directory", f"--eval={CONFIG}", "config", *assignments],
        project, PATH=f"{bin_dir}:{os.environ['PATH']}", FAKE_UID=uid, FAKE_GID=gid,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    dockerfile = (project / "Dockerfile").read_text()
    # The image's own user, as the Dockerfile creates it.
    ids = [re.search(rf"--{option} (\d+)", dockerfile)[1] for option in ("uid", "gid")]
    expected = ":".join(ids) if as_root else f"{uid}:{gid}"
    assert services["web"]["user"] == services["uv"]["user"] == expected


def test_the_template_folder_is_the_only_project_folder(tmp_path):
    # Cookiecutter renders the one top-level folder whose name is a template.
    assert [p.name for p in TEMPLATE.iterdir() if "{{" in p.name] == ["{{cookiecutter.project}}"]
    assert bake_cli(tmp_path).returncode == 0
    (project,) = tmp_path.iterdir()  # nothing written beside the project
    assert (project / "Makefile").is_file()


def test_only_development_runs_the_lighter_database_settings(bake):
    path = bake()
    mount = "./docker/db-development.cnf:/etc/mysql/conf.d/development.cnf:ro"
    override = load_compose(path, "docker-compose.override.yml")
    production = load_compose(path)
    assert mount in override["services"]["db"]["volumes"]
    assert not any("development.cnf" in mount for mount in production["services"]["db"]["volumes"])
    assert "innodb_buffer_pool_size" in (path / "docker/db-development.cnf").read_text()
