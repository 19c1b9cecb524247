"""Write the project's private .env and its provenance (.cruft.json), start
its git repository, say what next. (A file of an unchosen option is never
written: its name renders empty, which cookiecutter skips.)"""

import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path

# No import of cookiecutter itself: its repository module pulls in requests,
# most of a bake's time, for what git and the file system answer here.

# Rendered by cookiecutter; read by main() only, so the tests can import this
# file unrendered and call its functions with answers of their own.
ANSWERS_JSON = r"""{{ cookiecutter | tojson }}"""


def write_env(project: Path) -> None:
    """.env with fresh secrets, by the project's own writer (`make env` runs it too)."""
    subprocess.run(["sh", "bin/new-env"], cwd=project, check=True, stdout=subprocess.DEVNULL)


def git_output(*args: str) -> str | None:
    result = subprocess.run(["git", *args], capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else None


def template_source(template: str, repo_dir: str | None) -> str:
    """Where to fetch the template again: the folder it was baked from (as an
    absolute path), or the URL cookiecutter cloned it from (a gh: abbreviation
    comes back expanded), or the argument as given (a zip file's URL)."""
    # A relative path is relative to where cookiecutter ran; this hook runs in
    # the new project, but inherits the shell's PWD.
    folder = (Path(os.environ.get("PWD", ".")) / template).resolve()
    if folder.is_dir():
        return str(folder)
    if repo_dir is None:
        return template
    return git_output("-C", repo_dir, "remote", "get-url", "origin") or template


def write_provenance(project: Path, context: dict) -> str:
    """Record the template's source, commit and the answers, as cruft does,
    so that `make template-update` can merge the template's later changes.
    Return the source recorded."""
    answers = {key: value for key, value in context.items() if not key.startswith("_")}
    # cruft's renders (`make template-update`) have no _repo_dir.
    repo_dir = context.get("_repo_dir")
    answers["_template"] = source = template_source(context["_template"], repo_dir)
    # A folder is its own checkout; a URL was cloned into _repo_dir.
    checkout = source if Path(source).is_absolute() else repo_dir
    # None when there is no checkout, or it is not a git one.
    commit = git_output("-C", checkout, "rev-parse", "HEAD") if checkout else None
    provenance = {
        "template": source,
        "commit": commit,
        "checkout": context.get("_checkout"),
        "context": {"cookiecutter": answers},
        "directory": None,
        # Per checkout, never from the template: secrets, and what git ignores.
        "skip": [".env", "backups", "instance", ".venv", ".git"],
    }
    (project / ".cruft.json").write_text(json.dumps(provenance, indent=2) + "\n")
    return source


def start_git_repository(project: Path) -> bool:
    """`git init` on main, as `uv init` and `cargo new` do: CI, pre-commit and
    `make template-update` work on a repository. Not inside another work tree
    (a monorepo keeps its own); no commit: the first one is the user's."""
    if shutil.which("git") is None:
        return False
    inside = subprocess.run(
        ["git", "-C", str(project.parent), "rev-parse", "--is-inside-work-tree"],
        capture_output=True,
    )
    if inside.returncode == 0:
        return False
    subprocess.run(["git", "init", "--quiet", "--initial-branch=main"], cwd=project, check=True)
    return True


def next_steps(project: Path, repository: bool, template: str) -> str:
    lines = [f"\nBaked {project.name}. Next:", f"  cd {folder_from_shell(project)}"]
    if repository:
        lines.append('  git add -A && git commit -m "Bake"   # the repository is new and empty')
    lines += [
        "  make up       # build, start, wait until healthy",
        "  make help     # every other command",
    ]
    if Path(template).is_absolute():  # a folder on this machine
        lines += [
            f"\n.cruft.json names the template by its path on this machine ({template}):",
            "`make template-update` works here; for a team, put the template's URL there.",
        ]
    return "\n".join(lines) + "\n"


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
    template = write_provenance(project, answers)
    print(next_steps(project, start_git_repository(project), template))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
