"""The baked project's CI workflow, replayed here: its jobs call make targets,
so running their steps on a bake is running what GitHub Actions would run
(with the stand-in images, and the real server of .ci/db-servers-up.sh in
place of the service container)."""

import yaml
from sqlalchemy import create_engine, text

from harness.bakery import run

WORKFLOW = ".github/workflows/ci.yml"


def job_steps(path, job: str) -> list[str]:
    """The commands of a job's steps, in order; not the diagnostics run on failure."""
    steps = yaml.safe_load((path / WORKFLOW).read_text())["jobs"][job]["steps"]
    return [step["run"] for step in steps if "run" in step and not step.get("if")]


def test_the_stack_job_passes_on_a_fresh_clone(make_stack):
    # A fresh clone: its first `make up` initialises the database.
    stack = make_stack(initialised=False)
    # A fresh clone has no .env (it is never committed): the job writes one.
    (stack.path / ".env").unlink()
    for command in job_steps(stack.path, "stack"):
        stack.run(["sh", "-c", command], timeout=900, check=True)
    assert "MYSQL_ROOT_PASSWORD=change-me" not in (stack.path / ".env").read_text()


def test_the_test_job_passes_on_a_real_server(bake, new_database):
    project = bake()
    # A fresh database on the real MySQL server, as the job's service container makes.
    database = new_database("MYSQL_TEST_SERVER_URL")
    url = database.render_as_string(hide_password=False)
    for command in job_steps(project, "test"):
        result = run(["sh", "-c", command], project, timeout=900, TEST_DATABASE_URL=url)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        last_line = result.stdout.strip().splitlines()[-1]
        # Passed, and the MySQL-only tests ran: none was skipped.
        assert " passed" in last_line and "skipped" not in last_line, result.stdout[-2000:]
    # The suite ran on the server: the migrations left their table there.
    with create_engine(database).connect() as connection:
        tables = connection.execute(text("SHOW TABLES")).scalars().all()
    assert "alembic_version" in tables
