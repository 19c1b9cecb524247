"""What a bake makes of good answers: hostile strings kept as data, fresh
private secrets, names derived from the project's, a repository of its own.

Bad answers: tests/test_refusals.py."""

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
