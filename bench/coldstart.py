"""Cold start four ways on MySQL and on MariaDB, warm restart, and edit-to-served
in development mode."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import telemetry_imports
from common import (
    BENCH,
    JSON,
    PACKAGE,
    DbProbe,
    StatusPoller,
    env_values,
    get,
    log,
    log_events,
    new_stack,
    request,
    started_at,
    timed,
    wait_until,
)

# The databases the cold start runs on: key -> (cookiecutter answer, name in the report).
# MySQL is the default answer; the stand-ins give both their own server (images_for).
DATABASES = {
    "mysql": ("mysql-8.4", "MySQL"),
    "mariadb": ("mariadb-11.8", "MariaDB"),
}
# Results from before the MariaDB bake have no "database": they were MySQL's.
DEFAULT_DATABASE = "mysql"

APPROACHES = {
    "template": "this template: `make up`",
    "manual": "seed: no healthcheck, `flask db upgrade` by hand",
    "bootsh": "seed: boot.sh, retry `flask db upgrade` every 5 s",
    "prestart": "a `prestart` one-shot service migrates, then web starts",
}
# Compose files put on top of the project's own by each approach but the template.
VARIANT_FILES = {
    "manual": "seed-manual.yml",
    "bootsh": "seed-bootsh.yml",
    "prestart": "prestart.yml",
}
START_TIMEOUT = 240
# Keep polling this long after the first good answer: a start that flaps shows.
TAIL = 2.0
# How long a person waits before running `flask db upgrade` again.
RETRY_BY_HAND = 5.0


def files_for(approach: str) -> tuple[str, ...]:
    """Return the Compose files of an approach (the template: Compose's defaults)."""
    if approach == "template":
        return ()
    variant = str(BENCH / "compose" / VARIANT_FILES[approach])
    return ("docker-compose.yml", "docker-compose.override.yml", variant)


def upgrade_by_hand(stack, deadline: float) -> None:
    """Run `flask db upgrade` in web as a person would: again every 5 s until it works."""
    while time.monotonic() < deadline:
        result = stack.compose("exec", "-T", "web", "flask", "db", "upgrade", check=False)
        if result.returncode == 0:
            return
        time.sleep(RETRY_BY_HAND)
    raise RuntimeError("flask db upgrade by hand never succeeded")


def start(stack, approach: str) -> None:
    """Start a stack the way the approach does."""
    if approach == "template":
        stack.make("up", timeout=START_TIMEOUT)
        return
    if approach == "prestart":
        stack.compose("up", "--wait", timeout=START_TIMEOUT)
        return
    stack.compose("up", "--detach", timeout=START_TIMEOUT)
    if approach == "manual":
        upgrade_by_hand(stack, time.monotonic() + START_TIMEOUT)


def gap_parts(stack, t0_wall: float) -> dict[str, float | None]:
    """Find when web started, said the database was ready, and listened (seconds from t0)."""
    events = log_events(stack, "web")

    def first(*needles: str) -> float | None:
        hit = next((t for t, text in events if any(n in text for n in needles)), None)
        return None if hit is None else hit - t0_wall

    return {
        "web_started": started_at(stack, "web") - t0_wall,
        "db_said_ready": first("is ready"),
        "listening": first("Running on", "Listening at"),
    }


def cold_start(project: Path, images: dict[str, str], approach: str) -> dict:
    """Start a fresh stack (new volume) while polling /api/items and the db; tear it down.

    The db container's start is recorded for every approach: from it to db TCP
    is the database's first init on an empty volume."""
    stack = new_stack(project, images, files_for(approach))
    t0, t0_wall = time.monotonic(), time.time()
    poller = StatusPoller(stack.web_port, "/api/items", t0)
    probe = DbProbe(stack.db_port, env_values(project / ".env"), t0)
    poller.start()
    probe.start()
    try:
        start(stack, approach)
        returned = time.monotonic() - t0
        first_good = wait_until(lambda: poller.first("good"), START_TIMEOUT, 0.05, "a 200")
        time.sleep(TAIL)
        poller.stop()
        probe.stop()
        result = {
            "approach": approach,
            "returned": returned,
            "first_good": first_good,
            "db_tcp": probe.ready,
            "gap": None if probe.ready is None else first_good - probe.ready,
            "failed": poller.count("failed"),
            "refused": poller.count("refused"),
            "samples": poller.outcomes(),
            "db_started": started_at(stack, "db") - t0_wall,
        }
        if approach == "template":
            result.update(gap_parts(stack, t0_wall))
        return result
    finally:
        poller.stop()
        probe.stop()
        stack.down()


def cold_starts(bakes: dict[str, tuple[Path, dict[str, str]]], runs: int) -> list[dict]:
    """Run every approach on every database's bake (database -> project, images) in turn,
    runs times, so drift hits each alike."""
    results = []
    for run in range(runs):
        for database, (project, images) in bakes.items():
            for approach in APPROACHES:
                log(f"cold start {run + 1}/{runs}: {database}, {approach}")
                result = {"database": database, **cold_start(project, images, approach)}
                log(
                    f"  first 200 at {result['first_good']:.1f} s, db TCP at "
                    f"{result['db_tcp'] or float('nan'):.1f} s, failed {result['failed']}, "
                    f"refused {result['refused']}"
                )
                results.append(result)
    return results


MARKER_ROUTE = """

@bp.get("/bench-edit")
def bench_edit():
    return {{"token": "{token}"}}
"""


def edit_once(stack, api: Path, original: str) -> float:
    """Add a route with a new token to api.py; return seconds until it is served."""
    token = uuid.uuid4().hex
    started = time.monotonic()
    api.write_text(original + MARKER_ROUTE.format(token=token))

    def served() -> bool:
        status, body = get(stack.web_port, "/api/bench-edit", timeout=1)
        return status == 200 and token.encode() in body

    wait_until(served, 60, 0.02, "the edited code")
    return time.monotonic() - started


# mysqld and mariadbd both log this once they accept connections. During a first
# init the image's temporary server logs it too, with port 0 (socket only).
SERVER_READY = "ready for connections"
TEMPORARY_SERVER = "port: 0"


def server_start(stack) -> float | None:
    """Seconds from the db container's last start to its server logging that it is
    ready: the database server's own start, apart from Compose, web and healthchecks."""
    started = started_at(stack, "db")
    ready = next(
        (t for t, text in log_events(stack, "db")
         if t >= started and SERVER_READY in text and TEMPORARY_SERVER not in text),
        None,
    )  # fmt: skip
    return None if ready is None else ready - started


def dev_loop(project: Path, images: dict[str, str], runs: int) -> dict:
    """Measure warm restarts (data kept) and edits served by the dev server."""
    stack = new_stack(project, images)
    api = project / PACKAGE / "api.py"
    original = api.read_text()
    try:
        log("dev loop: cold make up")
        stack.make("up", timeout=START_TIMEOUT)
        # In the running web container: its Python, its packages.
        in_web = [*stack.compose_args, "exec", "-T", "web", "python"]
        imports = telemetry_imports.import_costs(project, PACKAGE, in_web, env=stack.env())
        log(f"telemetry imports: app {imports['app'] * 1000:.0f} ms; Sentry would add "
            f"{imports['sentry'] * 1000:.0f} ms, OpenTelemetry "
            f"{imports['opentelemetry'] * 1000:.0f} ms")  # fmt: skip
        request(stack.web_port, "POST", "/api/items", b'{"name": "kept across restarts"}', JSON)
        warm, down, db_start = [], [], []
        for run in range(runs):
            down.append(timed(stack.make, "down"))
            warm.append(timed(stack.make, "up", timeout=START_TIMEOUT))
            db_start.append(server_start(stack))
            log(f"warm restart {run + 1}/{runs}: make up {warm[-1]:.1f} s, the database "
                f"server's own start {db_start[-1] or float('nan'):.1f} s")  # fmt: skip
        status, body = get(stack.web_port, "/api/items")
        kept = status == 200 and b"kept across restarts" in body
        edits = []
        for run in range(max(runs, 5)):
            edits.append(edit_once(stack, api, original))
            log(f"edit {run + 1}: served after {edits[-1]:.2f} s")
            time.sleep(1.5)  # let the reloader settle before the next edit
        return {"warm_up": warm, "down": down, "db_start": db_start, "data_kept": kept,
                "edits": edits, "imports": imports}  # fmt: skip
    finally:
        api.write_text(original)
        stack.down()
