"""Wall time of each tier of the template's own test suite."""

from __future__ import annotations

import os
import re
import subprocess

from common import REPO, log

MYSQL_DEFAULT_URL = "mysql+pymysql://template:template@127.0.0.1:3306/"
TIERS = (
    ("bake + hooks", ("tests/test_bake.py", "tests/test_hooks.py")),
    ("baked suite", ("tests/test_baked_suite.py",)),
    ("end to end", ("tests/e2e",)),
)


def mysql_url() -> str | None:
    """Return MYSQL_TEST_SERVER_URL, or the account .ci/mariadb-up.sh makes if it answers."""
    if os.environ.get("MYSQL_TEST_SERVER_URL"):
        return os.environ["MYSQL_TEST_SERVER_URL"]
    import pymysql

    try:
        pymysql.connect(
            host="127.0.0.1", port=3306, user="template", password="template", connect_timeout=2
        ).close()
    except (pymysql.MySQLError, OSError):
        return None
    return MYSQL_DEFAULT_URL


def other_e2e_stacks() -> list[str]:
    """Return the e2e* Compose projects on this engine (another test run's)."""
    output = subprocess.run(
        ["docker", "ps", "-a", "--format", '{{.Label "com.docker.compose.project"}}'],
        capture_output=True, text=True,
    ).stdout  # fmt: skip
    return sorted({name for name in output.split() if name.startswith("e2e")})


def run_tier(label: str, selection: tuple[str, ...], env: dict[str, str]) -> dict:
    """Run one pytest selection with the repo's .venv; return its time and summary."""
    log(f"test tier: {label}")
    result = subprocess.run(
        [str(REPO / ".venv" / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
         *selection],
        cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    # pytest's own output, to see why a tier failed.
    log_file = REPO / "bench" / "out" / f"tier-{label.replace(' ', '-').replace('+', 'and')}.log"
    log_file.parent.mkdir(exist_ok=True)
    log_file.write_text(result.stdout + result.stderr)
    lines = [line for line in result.stdout.splitlines() if re.search(r" in [\d.]+s", line)]
    summary = lines[-1].strip("= ") if lines else f"exit {result.returncode}"
    seconds = re.search(r" in ([\d.]+)s", summary)
    return {
        "tier": label,
        "seconds": float(seconds.group(1)) if seconds else None,
        "summary": summary,
        "ok": result.returncode == 0,
    }


def suite(include_e2e: bool) -> list[dict]:
    """Time each tier; say why a tier or half of one did not run."""
    url = mysql_url()
    results = []
    for label, selection in TIERS:
        env, note = {}, ""
        if label == "baked suite":
            if url:
                env["MYSQL_TEST_SERVER_URL"] = url
            else:
                note = "MySQL half skipped: no server (run .ci/mariadb-up.sh)"
        if label == "end to end":
            env["E2E_STANDINS"] = "1"
            others = other_e2e_stacks()
            if not include_e2e:
                results.append({"tier": label, "seconds": None, "summary": "not run (--no-e2e)"})
                continue
            # Another run's stacks would share the two cores and skew this tier's time.
            if others:
                results.append(
                    {"tier": label, "seconds": None,
                     "summary": f"not run: another e2e run is using this engine ({others[0]})"}
                )  # fmt: skip
                continue
        result = run_tier(label, selection, env)
        if note:
            result["summary"] += f"; {note}"
        results.append(result)
    return results
