"""Refuse answers that would bake a broken project, before anything is written."""

import json
import keyword
import re
import sys

# Rendered as data, never pasted into code: any answer is safe here.
# Read by main() only, so the tests can import this file unrendered.
ANSWERS_JSON = r"""{{ cookiecutter | tojson }}"""

# It is also the name in pyproject.toml and uv.lock, which must end with a
# letter or digit (uv refuses "app_").
PROJECT_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?")
PACKAGE_PATTERN = re.compile(r"[a-z_][a-z0-9_]*")
# MySQL user names are at most 32 characters; the package names the user,
# the database and "<package>_test" (at most 64).
PACKAGE_MAX_LENGTH = 32
FREE_TEXT_MAX_LENGTH = 200
DATABASES = ("mysql-8.4", "mysql-9.7", "mariadb-11.8")
# Names the baked project imports or runs: a package of the same name hides them.
RESERVED_PACKAGES = {
    "alembic",
    "app",
    "click",
    "config",
    "cryptography",
    "flask",
    "flask_migrate",
    "flask_sqlalchemy",
    "gunicorn",
    "itsdangerous",
    "jinja2",
    "markupsafe",
    "migrations",
    "pymysql",
    "pytest",
    "ruff",
    "sqlalchemy",
    "tests",
    "werkzeug",
}


def check_project(value):
    if not PROJECT_PATTERN.fullmatch(value):
        return (
            f"project {value!r} is not a valid folder name: use 1 to 63 lowercase "
            "letters, digits, '-' or '_', starting and ending with a letter or digit"
        )
    return None


def check_package(value):
    if not PACKAGE_PATTERN.fullmatch(value):
        return (
            f"package {value!r} is not a valid Python package name: use lowercase "
            "letters, digits and '_', not starting with a digit"
        )
    if keyword.iskeyword(value):
        return f"package {value!r} is a Python keyword; choose another name"
    if value in RESERVED_PACKAGES or value in sys.stdlib_module_names:
        return f"package {value!r} would shadow a module the project imports; choose another name"
    if len(value) > PACKAGE_MAX_LENGTH:
        return (
            f"package {value!r} is longer than {PACKAGE_MAX_LENGTH} characters, "
            "MySQL's limit for the user and database names derived from it"
        )
    return None


def check_port(name, value, allow_none=False):
    if allow_none and value == "none":
        return None
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        hint = ", or 'none' to leave it unpublished" if allow_none else ""
        return f"{name} {value!r} is not a port number from 1 to 65535{hint}"
    return None


def check_free_text(name, value):
    if len(value) > FREE_TEXT_MAX_LENGTH:
        return f"{name} is longer than {FREE_TEXT_MAX_LENGTH} characters"
    if any(not character.isprintable() for character in value):
        return f"{name} must be one line of printable text"
    return None


def problems(answers):
    """Yield one sentence for every answer that cannot be baked."""
    yield check_free_text("project_name", answers["project_name"])
    # "-": what cookiecutter.json derives when the name has no letter or digit
    # (an empty folder name would be the output folder itself).
    if answers["project"] == "-":
        yield (f"project_name {answers['project_name']!r} has no letter or digit to make "
               "a folder name of: name the project in words, e.g. My Shop")  # fmt: skip
    yield check_project(answers["project"])
    yield check_package(answers["package"])
    yield check_free_text("description", answers["description"])
    yield check_free_text("author", answers["author"])
    if answers["database"] not in DATABASES:
        yield f"database {answers['database']!r} is not one of {', '.join(DATABASES)}"
    yield check_port("web_port", answers["web_port"])
    yield check_port("db_port", answers["db_port"], allow_none=True)
    if answers["web_port"] == answers["db_port"]:
        yield f"web_port and db_port are both {answers['web_port']}; choose two different ports"


def main() -> int:
    # The first problem only: a bad project name also spoils the package
    # derived from it, and one line says what to fix first.
    for problem in problems(json.loads(ANSWERS_JSON)):
        if problem:
            print(f"ERROR: {problem}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
