"""A project baked months ago catches up with its template: `make
template-update` merges the template's changes (cruft, three-way), keeps the
user's own edits and history, and marks a change made on both sides as a
conflict. Real git repositories on both sides, real cruft through uvx."""

import json
import shutil
import subprocess

import pytest
from cookiecutter.main import cookiecutter

from harness.bakery import TEMPLATE, require, run

README_LINE = "## Quick start"


def git(cwd, *args) -> str:
    result = subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args],
        cwd=cwd, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return result.stdout


def commit_all(cwd, message: str) -> str:
    git(cwd, "add", "-A")
    git(cwd, "commit", "-q", "-m", message)
    return git(cwd, "rev-parse", "HEAD").strip()


@pytest.fixture
def template_clone(tmp_path):
    """The template as it is now, as a git repository of its own (one commit)."""
    clone = tmp_path / "template"
    files = git(TEMPLATE, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for name in filter(None, files.split("\0")):
        if (TEMPLATE / name).is_file() and "node_modules" not in name:
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(TEMPLATE / name, clone / name)
    git(clone.parent, "init", "-q", str(clone))
    commit_all(clone, "template v1")
    return clone


def test_make_template_update_merges_the_template_and_keeps_the_users_work(
    tmp_path, template_clone
):
    if not shutil.which("uvx"):
        require("lint", "uv is not installed")
    project = tmp_path / cookiecutter(str(template_clone), no_input=True, output_dir=str(tmp_path))
    provenance = json.loads((project / ".cruft.json").read_text())
    assert provenance["commit"] == git(template_clone, "rev-parse", "HEAD").strip()
    assert provenance["template"] == str(template_clone)
    git(project, "init", "-q")
    commit_all(project, "baked")

    # The user's own work: a model with its revision, a README line, a setting.
    package = project / "flask_app"
    (package / "models" / "invoice.py").write_text("INVOICE = 'a model of the user'\n")
    revision = project / "migrations" / "versions" / "0002_create_invoices.py"
    revision.write_text('revision = "0002"\ndown_revision = "0001"\n')
    readme = (project / "README.md").read_text()
    (project / "README.md").write_text(readme.replace(README_LINE, f"{README_LINE} (our team)", 1))
    config = (package / "config.py").read_text()
    assert "MAX_CONTENT_LENGTH = 64 * 1024" in config
    (package / "config.py").write_text(config.replace("64 * 1024", "256 * 1024"))
    user_commit = commit_all(project, "our invoices")
    env_before = (project / ".env").read_text()

    # The template moves on.
    baked = template_clone / "{{cookiecutter.project}}"
    template_readme = (baked / "README.md").read_text()
    (baked / "README.md").write_text(template_readme.replace(README_LINE, f"{README_LINE} (v2)", 1))
    with (baked / "gunicorn.conf.py").open("a") as gunicorn:
        gunicorn.write("# A line the template added in v2.\n")
    (baked / "CHANGELOG.md").write_text("# v2\n")
    (baked / "migrations" / "README").unlink()
    new_commit = commit_all(template_clone, "template v2")

    behind = run(["make", "template-status"], project)
    assert behind.returncode == 0, behind.stderr
    assert behind.stdout.startswith("1 template commit(s) since"), behind.stdout
    assert "template v2" in behind.stdout

    # Never over uncommitted work: refused, nothing touched.
    (project / "notes.txt").write_text("work in progress\n")
    refused = run(["make", "template-update"], project)
    assert refused.returncode != 0
    assert refused.stderr.splitlines()[0].startswith("ERROR: the work tree has changes")
    assert not (project / "CHANGELOG.md").exists()
    (project / "notes.txt").unlink()

    update = run(["make", "template-update"], project)
    # The README line both sides changed is a conflict, said in one ERROR line.
    assert update.returncode != 0
    assert "ERROR: you and the template both changed: README.md" in update.stderr
    merged_readme = (project / "README.md").read_text()
    assert "<<<<<<<" in merged_readme and "(our team)" in merged_readme and "(v2)" in merged_readme

    assert "# A line the template added in v2." in (project / "gunicorn.conf.py").read_text()
    assert (project / "CHANGELOG.md").read_text() == "# v2\n"
    assert not (project / "migrations" / "README").exists()
    # The user's work and history are intact, and .env is theirs.
    assert "256 * 1024" in (package / "config.py").read_text()
    assert (package / "models" / "invoice.py").is_file() and revision.is_file()
    assert (project / ".env").read_text() == env_before
    assert git(project, "log", "--format=%H %s").splitlines()[0] == f"{user_commit} our invoices"
    assert json.loads((project / ".cruft.json").read_text())["commit"] == new_commit
    assert run(["make", "template-status"], project).stdout.startswith("up to date")
