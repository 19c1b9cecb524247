"""The template's own test suite, timed as CI runs it: `bash .ci/run` on a fresh clone.

The wall clock comes from .ci/run's own log (each of its lines carries the
seconds since it began), each tier's time from pytest's summary line, and
each end-to-end scenario's time and database start from the table the tier
prints last. Without the end-to-end tier (--no-e2e), only `make test-fast`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, log, template_commit

# Each tier's make target: its output (kept together by --output-sync) begins
# with a line "== make TARGET" and ends with pytest's summary line.
FAST = "test-fast"
TIER_OUTPUT = re.compile(r"^== make (\S+)$(.*?)(?=^== make |\Z)", re.M | re.S)
CI_TIMEOUT = 2 * 3600
# .ci/run's log lines: "[ci  123 s] message"; its last says the run passed.
CI_LINE = re.compile(r"^\[ci\s+(\d+) s\] (.*)$", re.M)
CI_PASSED = "make test passed"
# The tier's closing table (tests/e2e/conftest.py): seconds, database start, scenario.
SCENARIO_LINE = re.compile(r"^\s*([\d.]+) s  (\S+)\s+(tests/e2e/.+)$", re.M)
# The scenarios whose subject is a first init, a fresh clone, another server,
# a database on a tmpfs, or no database at all: they start on an empty database (initialised=False
# in each). Reviewed here, so that a new scenario starting empty shows as
# "not met" until someone has decided it must.
EMPTY_BY_DESIGN = {
    "tests/e2e/test_stack.py::test_make_up_serves_health_and_the_api_and_make_test_spares_the_dev_data",
    "tests/e2e/test_stack.py::test_the_db_healthcheck_stays_unhealthy_while_the_init_server_runs",
    "tests/e2e/test_stack.py::test_the_bind_mounted_data_dir_is_created_by_the_engine",
    "tests/e2e/test_stack.py::test_a_data_dir_mysql_would_refuse_is_refused_before_it_starts",
    "tests/e2e/test_stack.py::test_the_mariadb_option_bakes_and_serves",
    "tests/e2e/test_doctor.py::test_each_doctor_check_fails_on_purpose_with_its_fix",
    "tests/e2e/test_project_ci_replay.py::test_the_stack_job_passes_on_a_fresh_clone",
    "tests/e2e/test_restore.py::test_a_dump_restores_into_other_servers_with_gtids_on_and_off",
    "tests/e2e/test_faults.py::test_a_full_disk_refuses_writes_with_503_and_recovers",
    "tests/e2e/test_image.py::test_the_production_image_holds_the_locked_packages_and_no_installer",
    "tests/e2e/test_image.py::test_the_dependency_loop_runs_in_a_container_and_writes_files_you_own",
}  # fmt: skip


def engine_answers() -> bool:
    """Whether a Docker engine is installed and answers."""
    try:
        return subprocess.run(["docker", "info"], capture_output=True).returncode == 0
    except FileNotFoundError:
        return False


def engine_and_images_held() -> bool:
    """Whether this machine holds a running engine and every stand-in image: CI's warm case."""
    if not engine_answers():
        return False
    sys.path.insert(0, str(REPO / "tests" / "e2e"))
    from standins import build

    return all(build.image_exists(name) for name in build.image_names().values())


def other_e2e_stacks() -> list[str]:
    """Return the e2e* Compose projects on this engine (another test run's)."""
    if not engine_answers():
        return []
    output = subprocess.run(
        ["docker", "ps", "-a", "--format", '{{.Label "com.docker.compose.project"}}'],
        capture_output=True, text=True,
    ).stdout  # fmt: skip
    return sorted({name for name in output.split() if name.startswith("e2e")})


# pytest's last line: "===== 74 passed, 1 skipped in 647.88s (0:10:47) =====" (no = with -q).
SUMMARY_LINE = re.compile(r"^=* ?(\d+ (?:passed|failed|errors?)\b.* in ([\d.]+)s.*?) ?=*$", re.M)


def tier_times(log_text: str) -> list[dict]:
    """Each tier's make target and pytest summary line ("N passed in Xs"), in
    the order the tiers finished."""
    tiers = []
    for target, output in TIER_OUTPUT.findall(log_text):
        if summaries := SUMMARY_LINE.findall(output):
            summary, seconds = summaries[-1]
            tiers.append({"tier": target, "seconds": float(seconds), "summary": summary})
    return tiers


def scenarios(log_text: str) -> list[dict]:
    return [
        {"scenario": nodeid, "seconds": float(seconds), "database": database}
        for seconds, database, nodeid in SCENARIO_LINE.findall(log_text)
    ]


def ci_run_environment() -> dict[str, str]:
    """This environment without what `make bench` put there: its make's flags,
    and `args` (make exports a variable set on its command line), which the
    clone's make would hand to pytest."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("MAKE") and name != "args"
    }


def ci_run() -> dict:
    """Clone the committed tree, run `bash .ci/run` in the clone; read the log."""
    held = engine_and_images_held()
    log_file = REPO / "bench" / "out" / "ci-run.log"
    log_file.parent.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-ci-") as scratch:
        clone = Path(scratch) / "clone"
        subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
        log(f"suite: bash .ci/run on a fresh clone ({'warm' if held else 'cold'} machine)")
        result = subprocess.run(
            ["bash", ".ci/run"], cwd=clone, capture_output=True, text=True, timeout=CI_TIMEOUT,
            env=ci_run_environment(),
        )  # fmt: skip
    text = result.stdout + result.stderr
    log_file.write_text(text)
    stamps = CI_LINE.findall(text)
    passed = result.returncode == 0 and bool(stamps) and stamps[-1][1] == CI_PASSED
    return {
        "held": held,
        "date": time.strftime("%Y-%m-%d"),
        "commit": template_commit(),
        "ok": passed,
        "seconds": float(stamps[-1][0]) if stamps else None,
        "tiers": tier_times(result.stdout),
        "scenarios": scenarios(result.stdout),
    }


def fast_tier() -> dict:
    """`make test-fast` alone: pytest's time for it."""
    log("suite: make test-fast")
    result = subprocess.run(
        ["make", "--no-print-directory", "test-fast", "args=-q -p no:cacheprovider"],
        cwd=REPO, capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    tiers = tier_times(result.stdout)
    return tiers[0] if tiers else {"tier": FAST, "seconds": None,
                                   "summary": f"exit {result.returncode}"}  # fmt: skip


def suite(include_e2e: bool, kept: dict | None) -> dict:
    """Time the suite as CI runs it; say why the CI run did not happen. kept:
    the last bench's suite, whose CI run on the other machine state (warm or
    cold) is kept beside this one: one machine is in one state at a time."""
    if not include_e2e:
        return {"ci": None, "note": "CI run not made (--no-e2e)", "tiers": [fast_tier()]}
    # Another run's stacks would share the two cores and skew the figure.
    if others := other_e2e_stacks():
        note = f"CI run not made: another e2e run is using this engine ({others[0]})"
        return {"ci": None, "note": note, "tiers": [fast_tier()]}
    ci = ci_run()
    earlier = [(kept or {}).get("ci"), (kept or {}).get("other_ci")]
    other = next((run for run in earlier if run and run["held"] != ci["held"]), None)
    return {"ci": ci, "other_ci": other, "note": "", "tiers": ci["tiers"]}
