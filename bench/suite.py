"""Wall time of each tier of the template's own test suite."""

from __future__ import annotations

import os
import re
import subprocess

from common import REPO, log

# The Makefile's tier targets, in `make test`'s order; it holds what each runs.
FAST = "fast"
TIERS = ((FAST, "test-fast"), ("baked projects' own tools", "test-tools"),
         ("end to end", "test-e2e"))  # fmt: skip


def server_urls() -> dict[str, str]:
    """MYSQL_ and MARIADB_TEST_SERVER_URL: from .ci/db-servers-up.sh, which starts the servers."""
    result = subprocess.run(
        ["bash", str(REPO / ".ci" / "db-servers-up.sh")], capture_output=True, text=True
    )
    if result.returncode != 0:
        log(f"real-server tier skipped: .ci/db-servers-up.sh failed: {result.stderr[-500:]}")
        return {}
    return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)


def other_e2e_stacks() -> list[str]:
    """Return the e2e* Compose projects on this engine (another test run's)."""
    output = subprocess.run(
        ["docker", "ps", "-a", "--format", '{{.Label "com.docker.compose.project"}}'],
        capture_output=True, text=True,
    ).stdout  # fmt: skip
    return sorted({name for name in output.split() if name.startswith("e2e")})


def run_tier(label: str, target: str, env: dict[str, str]) -> dict:
    """Run one tier's make target; return pytest's time and summary line."""
    log(f"test tier: {label} (make {target})")
    result = subprocess.run(
        ["make", "--no-print-directory", target, "args=-q -p no:cacheprovider"],
        cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    # pytest's own output, to see why a tier failed.
    log_file = REPO / "bench" / "out" / f"tier-{target}.log"
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
    urls = server_urls()
    results = []
    for label, target in TIERS:
        # As .ci/run sets them for `make test`: both tiers have tests on the real servers.
        env, note = dict(urls), ""
        if not urls and label != FAST:
            note = "real-server tests skipped: no servers (see .ci/db-servers-up.sh)"
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
        result = run_tier(label, target, env)
        if note:
            result["summary"] += f"; {note}"
        results.append(result)
    return results
