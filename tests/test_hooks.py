"""The hooks refuse bad answers cleanly and keep hostile strings as data."""

import stat
import tomllib

import pytest

from harness.bakery import bake_cli, env_values, run

# (answer, what the project holds). Cookiecutter renders Jinja in answers
# before the hooks see them; what comes out is then kept as plain data.
HOSTILE_TEXT = [
    ('say "hi"', 'say "hi"'),
    ("it's", "it's"),
    ("back\\slash\\", "back\\slash\\"),
    ('"""; import os; os.system("touch pwned") #', '"""; import os; os.system("touch pwned") #'),
    ("{{ 7 * 7 }}", "49"),
    ("{% raw %}{{ 7 * 7 }}{% endraw %}", "{{ 7 * 7 }}"),
    ("$(touch pwned) `id` ; rm -rf ~ | & > <", "$(touch pwned) `id` ; rm -rf ~ | & > <"),
    ("Zoë Ünïcødé 茶 🍵", "Zoë Ünïcødé 茶 🍵"),
    ("</script><b>&amp;", "</script><b>&amp;"),
]


# A few refusals through the real command line, one per kind of check: the
# verdict on each answer is unit-tested in-process (tests/test_hooks_unit.py).
@pytest.mark.parametrize(
    ("answer", "message"),
    [
        # Derived by cookiecutter.json from the human name, then refused.
        ("project_name=!!!", "has no letter or digit to make a folder name of"),
        ("project_name=two\nlines", "project_name must be one line"),
        ("package=class", "is a Python keyword"),
        ("web_port=0", "web_port '0' is not a port number"),
        ("db_port=8000", "web_port and db_port are both 8000"),
    ],
)
def test_a_bad_answer_gets_one_clear_line_and_leaves_nothing(tmp_path, answer, message):
    before = set(tmp_path.iterdir())
    result = bake_cli(tmp_path, answer)
    # 1: cookiecutter's exit when a hook refuses (a crash would say more than one line).
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR: ")]
    assert len(errors) == 1, result.stderr
    assert message in errors[0]
    assert set(tmp_path.iterdir()) == before


@pytest.mark.parametrize("answer", ["database=postgres", "db_storage=tmpfs", "example_api=maybe"])
def test_an_answer_outside_the_choices_is_refused(tmp_path, answer):
    result = bake_cli(tmp_path, answer)
    variable, value = answer.split("=")
    assert result.returncode == 1
    # cookiecutter's own refusal, which names the variable and its choices.
    assert f"{value} provided for choice variable {variable}, but the choices are" in (
        result.stderr
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("project", ["../escape", "a/b", "/abs"])
def test_a_project_name_with_a_path_is_refused_and_no_file_is_written(tmp_path, project):
    output = tmp_path / "out"
    output.mkdir()
    result = bake_cli(output, f"project={project}", "package=escape")
    assert result.returncode == 1
    assert "is not a valid folder name" in result.stderr
    assert list(tmp_path.iterdir()) == [output]
    # Cookiecutter makes the folders of a nested name before any hook runs
    # and removes only the innermost one: at most an empty "a/" remains.
    assert [path for path in output.rglob("*") if not path.is_dir()] == []


@pytest.mark.parametrize(("text", "kept"), HOSTILE_TEXT)
def test_hostile_free_text_is_kept_as_data(fresh_bake, text, kept):
    path = fresh_bake(description=text, author=text)
    # Still valid TOML holding exactly the text, and nothing ran.
    project = tomllib.loads((path / "pyproject.toml").read_text())["project"]
    assert project["description"] == kept
    assert project["authors"][0]["name"] == kept
    assert kept in (path / "README.md").read_text()
    assert not list(path.parent.rglob("pwned"))


def test_secrets_differ_on_every_bake(fresh_bake):
    secrets = []
    for _ in range(2):
        env = env_values((fresh_bake() / ".env").read_text())
        secrets.append(
            {
                k: v
                for k, v in env.items()
                if k in ("SECRET_KEY", "MYSQL_PASSWORD", "MYSQL_ROOT_PASSWORD")
            }
        )
    first, second = secrets
    assert len(first) == 3
    assert all(len(value) >= 32 and value != "change-me" for value in first.values())
    assert len(set(first.values())) == 3
    assert not set(first.values()) & set(second.values())


def test_env_is_private_and_ignored_by_git(fresh_bake):
    path = fresh_bake()
    assert stat.S_IMODE((path / ".env").stat().st_mode) == 0o600
    assert run(["git", "check-ignore", "-q", ".env"], path).returncode == 0
    assert run(["git", "check-ignore", "-q", ".env.example"], path).returncode == 1
    assert ".env" in (path / ".dockerignore").read_text().splitlines()


@pytest.mark.parametrize(
    ("name", "folder", "package"),
    [("My Shop", "my-shop", "my_shop"), ("Zoë's Café 茶", "zoe-s-cafe-cha", "zoe_s_cafe_cha")],
)
def test_the_folder_package_and_database_derive_from_the_project_name(
    tmp_path, name, folder, package
):
    result = bake_cli(tmp_path, f"project_name={name}")
    assert result.returncode == 0, result.stderr
    project = tmp_path / folder
    assert (project / package / "__init__.py").is_file()
    assert f"MYSQL_DATABASE={package}\n" in (project / ".env").read_text()
    assert (project / "README.md").read_text().startswith(f"# {name}\n")


def test_the_bake_is_a_new_repository_on_main_with_the_first_commit_left_to_you(tmp_path):
    assert bake_cli(tmp_path).returncode == 0
    project = tmp_path / "flask-app"
    branch = run(["git", "symbolic-ref", "--short", "HEAD"], project)
    assert branch.stdout.strip() == "main", branch.stderr
    assert run(["git", "rev-parse", "--verify", "-q", "HEAD"], project).returncode == 1
    assert run(["git", "status", "--porcelain", "--untracked-files=all"], project).stdout


def test_a_bake_inside_a_work_tree_leaves_the_repository_to_it(tmp_path):
    assert run(["git", "init", "-q"], tmp_path).returncode == 0
    assert bake_cli(tmp_path).returncode == 0
    assert not (tmp_path / "flask-app" / ".git").exists()
