"""Fixtures shared by the template's tests: real cookiecutter bakes, fresh databases."""

import os
import shutil
import uuid
from pathlib import Path

import pytest
from sqlalchemy import URL, create_engine, make_url, text

from harness.bakery import require


def pytest_addoption(parser):
    # Read by tests/e2e/conftest.py; declared here, where pytest looks at start-up.
    parser.addoption(
        "--figures",
        metavar="PATH",
        help="after a green end-to-end run, save the figures it measured to PATH (JSON)",
    )


def baked(cookies, answers: dict) -> Path:
    """Bake with pytest-cookies (session or test scoped); fail the test if baking fails."""
    result = cookies.bake(extra_context=answers)
    assert result.exit_code == 0, result.exception
    return Path(result.project_path)


@pytest.fixture(scope="session")
def bake_once(cookies_session):
    """Bake each set of answers once per test run; return the shared bake's path.

    A bake takes about a second and most tests read the same few, so sharing
    them is what keeps the tiers fast. Tests never touch a shared bake: they
    get copies from `bake`.
    """
    bakes: dict[tuple, Path] = {}

    def bake_with(answers: dict) -> Path:
        key = tuple(sorted(answers.items()))
        if key not in bakes:
            bakes[key] = baked(cookies_session, answers)
        return bakes[key]

    return bake_with


@pytest.fixture
def bake(bake_once, tmp_path):
    """Return a project baked with these answers: this test's own copy of the run's bake."""
    copies = 0

    def bake_with(**answers) -> Path:
        nonlocal copies
        shared = bake_once(answers)
        copies += 1
        copy = tmp_path / f"bake{copies}" / shared.name
        shutil.copytree(shared, copy, symlinks=True)
        return copy

    return bake_with


@pytest.fixture
def fresh_bake(cookies):
    """Bake the template now, for tests of what differs from one bake to the next."""

    def bake_with(**answers) -> Path:
        return baked(cookies, answers)

    return bake_with


@pytest.fixture
def new_database():
    """Create fresh databases on the real servers; drop them afterwards.

    new_database("MYSQL_TEST_SERVER_URL") returns the URL of a new utf8mb4
    database on the server that variable names (.ci/db-servers-up.sh starts
    them), or skips the test when it is not set (fails with REQUIRE_MYSQL=1).
    """
    created = []

    def create(variable: str) -> URL:
        server = os.environ.get(variable)
        if not server:
            require("mysql", f"{variable} is not set (see .ci/db-servers-up.sh)")
        name = f"template_{uuid.uuid4().hex[:12]}"
        engine = create_engine(server)
        with engine.begin() as connection:
            connection.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
        created.append((engine, name))
        return make_url(server).set(database=name, query={"charset": "utf8mb4"})

    yield create
    for engine, name in created:
        with engine.begin() as connection:
            connection.execute(text(f"DROP DATABASE `{name}`"))
        engine.dispose()
