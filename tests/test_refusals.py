"""Bad answers are refused through the real command line: one clear line,
a non-zero exit, and nothing left behind."""

import pytest

from harness.bakery import bake_cli


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
