"""The hooks' functions, imported and called in-process: the verdicts and
files they produce for answers of our own. Real bakes (tests/test_hooks.py,
tests/test_refusals.py) keep proving that cookiecutter runs them."""

import json
import subprocess

import pytest

import post_gen_project as post_gen
import pre_gen_project as pre_gen
from harness.bakery import DEFAULTS

# cookiecutter.json's first choices and literal defaults; the derived ones as they render.
DEFAULT_ANSWERS = {
    **{
        key: value[0] if isinstance(value, list) else value
        for key, value in DEFAULTS.items()
        if not key.startswith("_")
    },
    "project": "flask-app",
    "package": "flask_app",
}


def verdicts(**changes) -> list[str]:
    return [problem for problem in pre_gen.problems({**DEFAULT_ANSWERS, **changes}) if problem]


def test_the_default_answers_have_no_problem():
    assert verdicts() == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"project": "-"}, "has no letter or digit"),
        ({"project": "Shop"}, "is not a valid folder name"),
        ({"project": "My Project"}, "is not a valid folder name"),
        ({"project": "-rf"}, "is not a valid folder name"),
        ({"project": "app_"}, "is not a valid folder name"),
        ({"project": "app-"}, "is not a valid folder name"),
        ({"project": "a" * 64}, "is not a valid folder name"),
        ({"project_name": "two\nlines"}, "project_name must be one line"),
        ({"package": "1app"}, "is not a valid Python package name"),
        ({"package": "my-app"}, "is not a valid Python package name"),
        ({"package": "import"}, "is a Python keyword"),
        ({"package": "class"}, "is a Python keyword"),
        ({"package": "sqlalchemy"}, "would shadow a module"),
        ({"package": "flask"}, "would shadow a module"),
        ({"package": "tests"}, "would shadow a module"),
        ({"package": "json"}, "would shadow a module"),
        ({"package": "a" * 33}, "longer than 32 characters"),
        ({"web_port": "70000"}, "is not a port number"),
        ({"web_port": "0"}, "web_port '0' is not a port number"),
        ({"web_port": "65536"}, "is not a port number"),
        ({"web_port": "http"}, "is not a port number"),
        ({"db_port": "-1"}, "db_port '-1' is not a port number"),
        ({"db_port": "8000"}, "web_port and db_port are both 8000"),
        ({"db_port": "none"}, None),
        ({"description": "two\nlines"}, "description must be one line"),
        ({"author": "a\tb"}, "must be one line of printable text"),
        ({"author": "x" * 201}, "author is longer than 200"),
    ],
)
def test_each_answer_gets_its_verdict(changes, message):
    found = verdicts(**changes)
    if message is None:
        assert found == []
    else:
        assert found and message in found[0], found


def test_provenance_names_the_template_its_commit_and_the_answers(tmp_path):
    template = tmp_path / "template"
    subprocess.run(["git", "init", "-q", str(template)], check=True)
    subprocess.run(
        ["git", "-C", str(template), "-c", "user.name=t", "-c", "user.email=t@example.com",
         "commit", "-q", "--allow-empty", "-m", "v1"], check=True,
    )  # fmt: skip
    commit = subprocess.run(["git", "-C", str(template), "rev-parse", "HEAD"],
                            capture_output=True, text=True).stdout.strip()  # fmt: skip
    context = {**DEFAULT_ANSWERS, "_template": str(template), "_repo_dir": str(template),
               "_output_dir": "/somewhere", "__prompts__": {}}  # fmt: skip
    post_gen.write_provenance(tmp_path, context)
    provenance = json.loads((tmp_path / ".cruft.json").read_text())
    assert (provenance["template"], provenance["commit"]) == (str(template), commit)
    answers = provenance["context"]["cookiecutter"]
    assert answers["project"] == "flask-app" and "_output_dir" not in answers
    assert ".env" in provenance["skip"]


def test_a_cloned_template_is_recorded_by_the_url_it_was_cloned_from(tmp_path, monkeypatch):
    clone = tmp_path / "cookiecutters" / "flask-template"
    subprocess.run(["git", "init", "-q", str(clone)], check=True)
    url = "https://github.com/acme/flask-template.git"
    subprocess.run(["git", "-C", str(clone), "remote", "add", "origin", url], check=True)
    monkeypatch.setenv("PWD", str(tmp_path))
    assert post_gen.template_source("gh:acme/flask-template", str(clone)) == url
    # cruft renders the template again without a clone (make template-update).
    assert post_gen.template_source("gh:acme/flask-template", None) == "gh:acme/flask-template"


def test_the_hint_names_the_folder_as_the_shell_reaches_it(tmp_path, monkeypatch):
    project = tmp_path / "out dir" / "my-shop"
    project.mkdir(parents=True)
    monkeypatch.setenv("PWD", str(project.parent))
    assert post_gen.folder_from_shell(project) == "my-shop"
    # cookiecutter -o "out dir": run from elsewhere, the full path.
    monkeypatch.setenv("PWD", str(tmp_path))
    assert post_gen.folder_from_shell(project) == f"'{project}'"


def test_the_hint_says_to_commit_a_new_repository_and_where_the_template_is_recorded(tmp_path):
    project = tmp_path / "my-shop"
    local = post_gen.next_steps(project, True, "/home/me/template")
    assert 'git add -A && git commit -m "Bake"' in local
    assert ".cruft.json names the template by its path on this machine (/home/me/template)" in local
    remote = post_gen.next_steps(project, False, "https://github.com/acme/flask-template.git")
    assert "git add" not in remote and ".cruft.json" not in remote
