"""Write the project's private .env, drop files of unchosen options, say what next."""

import json
import secrets
from pathlib import Path

ANSWERS = json.loads(r"""{{ cookiecutter | tojson }}""")

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


def remove_unchosen_files(project: Path) -> None:
    if ANSWERS["example_api"] == "yes":
        return
    for pattern in EXAMPLE_API_FILES:
        (project / pattern.format(package=ANSWERS["package"])).unlink()


def main() -> int:
    project = Path.cwd()
    write_env(project)
    remove_unchosen_files(project)
    print(
        f"\nBaked {project.name}. Next:\n"
        f"  cd {project.name}\n"
        "  make up       # build, start, wait until healthy\n"
        "  make help     # every other command\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
