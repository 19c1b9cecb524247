"""Fixtures shared by the template's tests: real cookiecutter bakes."""

from pathlib import Path

import pytest


def pytest_addoption(parser):
    # Read by tests/e2e/conftest.py; declared here, where pytest looks at start-up.
    parser.addoption(
        "--reliability-doc",
        metavar="PATH",
        help="after a full green end-to-end run, write the reliability figures to PATH",
    )


@pytest.fixture
def bake(cookies):
    """Bake the template with some answers; fail the test if baking fails."""

    def bake_with(**answers) -> Path:
        result = cookies.bake(extra_context=answers)
        assert result.exit_code == 0, result.exception
        return Path(result.project_path)

    return bake_with
