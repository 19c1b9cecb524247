"""Helpers shared by the template's tests and its bench: the template, its
choices, subprocesses. pytest is imported by the functions that need it: the
bench imports this module without it."""

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from dotenv import dotenv_values, set_key

# run: the harness's one way to run a command (stack.py), for the tests' imports.
from harness.stack import run

TEMPLATE = Path(__file__).resolve().parents[2]
DEFAULTS = json.loads((TEMPLATE / "cookiecutter.json").read_text())
CHOICES = {key: value for key, value in DEFAULTS.items() if isinstance(value, list)}


def require(tier: str, reason: str) -> None:
    """Skip a test whose tier is unavailable, or fail when CI requires that tier."""
    import pytest

    if os.environ.get(f"REQUIRE_{tier.upper()}") == "1":
        pytest.fail(f"REQUIRE_{tier.upper()}=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def uv() -> str:
    """The pinned uv that `make venv` installs into .venv; fail the test without it."""
    import pytest

    path = shutil.which("uv")
    if path is None:
        pytest.fail("uv is not on PATH: `make venv` installs the pinned one into .venv")
    return path


def load_compose(project: Path, name: str = "docker-compose.yml") -> dict:
    """A bake's Compose file, parsed."""
    return yaml.safe_load((project / name).read_text())


def env_values(source: str | Path) -> dict[str, str]:
    """The variables a .env file (a Path) or its text sets, read as Compose reads
    them (python-dotenv)."""
    if isinstance(source, Path):
        source = source.read_text()
    return dotenv_values(stream=io.StringIO(source))


def set_env(project: Path, name: str, value: str) -> str:
    """Set name=value in the project's .env, unquoted as the bake writes it; return
    the old value."""
    old = env_values(project / ".env").get(name, "")
    set_key(project / ".env", name, value, quote_mode="never")
    return old


def bake_cli(output: Path, *answers: str) -> subprocess.CompletedProcess:
    """Bake into output through the real cookiecutter command line, as a user does."""
    return run(
        [sys.executable, "-m", "cookiecutter", "--no-input", "-o", str(output),
         str(TEMPLATE), *answers],
        output,
    )  # fmt: skip


def run_baked_suite(project: Path, **env) -> subprocess.CompletedProcess:
    """Run the baked project's own pytest suite in a fresh process."""
    return run([sys.executable, "-m", "pytest", "-q"], project, **env)
