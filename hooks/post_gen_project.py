"""Write the project's private .env and its provenance (.cruft.json), drop
files of unchosen options, say what next."""

import json
import os
import secrets
import shlex
import subprocess
from pathlib import Path

from cookiecutter.config import BUILTIN_ABBREVIATIONS
from cookiecutter.repository import expand_abbreviations, is_repo_url

# Rendered by cookiecutter; read by main() only, so the tests can import this
# file unrendered and call its functions with answers of their own.
ANSWERS_JSON = r"""{{ cookiecutter | tojson }}"""

# The only values in .env.example that must never be shared between projects.
SECRET_VARIABLES = ("SECRET_KEY", "MYSQL_PASSWORD", "MYSQL_ROOT_PASSWORD")
EXAMPLE_API_FILES = (
    "{package}/api.py",
    "{package}/models/item.py",
    "migrations/versions/0001_create_items.py",
    "tests/test_api.py",
)


def env_with_fresh_secrets(example: str) -> str:
    """Return the .env.example text with every secret replaced by a random one."""
    lines = []
    for line in example.splitlines():
        name, sep, _ = line.partition("=")
        if sep and name in SECRET_VARIABLES:
            line = f"{name}={secrets.token_urlsafe(32)}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def write_env(project: Path) -> None:
    env = project / ".env"
    env.write_text(env_with_fresh_secrets((project / ".env.example").read_text()))
    env.chmod(0o600)


def template_commit(repo_dir: str) -> str | None:
    """The commit the template was baked from, or None when it is not a git checkout."""
    result = subprocess.run(
        ["git", "-C", repo_dir, "rev-parse", "HEAD"], capture_output=True, text=True
    )
    return result.stdout.strip() if result.returncode == 0 else None


def template_source(template: str) -> str:
    """Where to fetch the template again: a URL (gh: expanded), or an absolute path."""
    expanded = expand_abbreviations(template, BUILTIN_ABBREVIATIONS)
    if is_repo_url(expanded):
        return expanded
    # A relative path is relative to where cookiecutter ran; this hook runs in
    # the new project, but inherits the shell's PWD.
    return str((Path(os.environ.get("PWD", ".")) / template).resolve())


def write_provenance(project: Path, context: dict) -> None:
    """Record the template's source, commit and the answers, as cruft does,
    so that `make template-update` can merge the template's later changes."""
    answers = {key: value for key, value in context.items() if not key.startswith("_")}
    answers["_template"] = source = template_source(context["_template"])
    provenance = {
        "template": source,
        # A URL was cloned into _repo_dir (absolute); a path is its own checkout.
        "commit": template_commit(context["_repo_dir"] if is_repo_url(source) else source),
        "checkout": context.get("_checkout"),
        "context": {"cookiecutter": answers},
        "directory": None,
        # Per checkout, never from the template: secrets, and what git ignores.
        "skip": [".env", "backups", "instance", ".venv"],
    }
    (project / ".cruft.json").write_text(json.dumps(provenance, indent=2) + "\n")


def remove_unchosen_files(project: Path, answers: dict) -> None:
    if answers["example_api"] == "yes":
        return
    for pattern in EXAMPLE_API_FILES:
        (project / pattern.format(package=answers["package"])).unlink()


def folder_from_shell(project: Path) -> str:
    """The project's folder as the user's shell reaches it: its name when
    cookiecutter ran in its parent, else its full path (`-o DIR`). Hooks run
    inside the new folder; PWD is still the shell's."""
    shell = os.environ.get("PWD")
    if shell and Path(shell).resolve() == project.parent.resolve():
        return shlex.quote(project.name)
    return shlex.quote(str(project))


def main() -> int:
    answers = json.loads(ANSWERS_JSON)
    project = Path.cwd()
    write_env(project)
    write_provenance(project, answers)
    remove_unchosen_files(project, answers)
    print(
        f"\nBaked {project.name}. Next:\n"
        f"  cd {folder_from_shell(project)}\n"
        "  make up       # build, start, wait until healthy\n"
        "  make help     # every other command\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
