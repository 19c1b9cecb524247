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

TEMPLATE = Path(__file__).resolve().parents[2]
DEFAULTS = json.loads((TEMPLATE / "cookiecutter.json").read_text())
CHOICES = {key: value for key, value in DEFAULTS.items() if isinstance(value, list)}

# Set by a `make test` around the tests: a nested make would then print
# "Entering directory" lines that a user's shell never shows.
MAKE_RECURSION = {"MAKELEVEL", "MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES"}


def user_environment() -> dict[str, str]:
    """This process's environment as a user's shell has it: no make recursion variables."""
    return {name: value for name, value in os.environ.items() if name not in MAKE_RECURSION}


def run(args, cwd, timeout=600, *, check=False, stdin_text=None, environment=None, **env):
    """Run a command to completion, its output captured as text. A failure is
    returned for the caller to assert on, unless check=True: then it raises
    AssertionError with the command's output. environment (default: the
    user's, user_environment()) gets env's variables on top."""
    result = subprocess.run(
        args, cwd=cwd, env={**(environment or user_environment()), **env},
        stdin=subprocess.DEVNULL if stdin_text is None else None, input=stdin_text,
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, args))} exited {result.returncode}\n"
            f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}"
        )
    return result


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
