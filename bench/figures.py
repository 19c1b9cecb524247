"""Compute what docs/benchmarks.md shows from the raw results: medians, ratios, targets.

Numbers only; the words around them live in templates/benchmarks.md.j2, the
picture in plot.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from coldstart import APPROACHES
from common import median
from suite import FAST

MB = 1e6  # Docker's unit for image sizes
# The template's cold-start gap, step by step: key -> (label, from, to) event keys.
GAP_STEPS = {
    "health": ("db accepts TCP → web container started (db healthcheck, Compose)", "db_tcp",
               "web_started"),
    "wait": ("web started → `wait-for-db` says ready (a Python start)", "web_started",
             "db_said_ready"),
    "prepare": ("ready → server listening (`flask db upgrade` in the same process, server "
                "start)", "db_said_ready", "listening"),
    "serve": ("listening → first 200", "listening", "first_good"),
}  # fmt: skip


@dataclass(frozen=True)
class Target:
    key: str  # names the target for the notes in the template
    label: str
    figure: str
    met: bool | None  # None: printed only


def by_approach(results: dict) -> dict[str, list[dict]]:
    runs = results.get("coldstart", [])
    return {a: [r for r in runs if r["approach"] == a] for a in APPROACHES}


def ratio(load: dict, server: str, other: str) -> float:
    """Return the median of server's req/s over other's, run by run (they alternate)."""
    runs = load["runs"]
    pairs = zip(runs[server], runs[other], strict=True)
    return median(a["rps"] / b["rps"] for a, b in pairs if b["rps"])


def gap_steps(template: list[dict]) -> dict[str, dict]:
    """Return each step of the template's gap: its label and median seconds."""
    return {
        key: {
            "label": label,
            "seconds": median(r[end] - r[start] for r in template if r.get(start) and r.get(end)),
        }
        for key, (label, start, end) in GAP_STEPS.items()
    }


def approach_row(approach: str, runs: list[dict], template_first: float) -> dict:
    """Return one approach's medians (and worst counts) over its cold starts."""
    first = median(r["first_good"] for r in runs)
    return {
        "label": APPROACHES[approach],
        "first": first,
        "vs": first / template_first,
        "db_tcp": median(r["db_tcp"] for r in runs),
        "gap": median(r["gap"] for r in runs),
        "failed": median(r["failed"] for r in runs),
        "failed_worst": max(r["failed"] for r in runs),
        "refused": median(r["refused"] for r in runs),
        "refused_worst": max(r["refused"] for r in runs),
        "returned": median(r["returned"] for r in runs),
    }


def coldstart(results: dict) -> dict | None:
    groups = {a: runs for a, runs in by_approach(results).items() if runs}
    template = groups.get("template")
    if not template:
        return None
    template_first = median(r["first_good"] for r in template)
    return {
        "runs": len(template),
        # By approach, in APPROACHES order; "template" is always there.
        "rows": {a: approach_row(a, runs, template_first) for a, runs in groups.items()},
        "steps": gap_steps(template),
    }


def dev(results: dict) -> dict | None:
    figures = results.get("dev")
    if not figures:
        return None
    return {
        "runs": len(figures["warm_up"]),
        "down": median(figures["down"]),
        "warm_up": median(figures["warm_up"]),
        "data_kept": figures["data_kept"],
        "edits": len(figures["edits"]),
        "edit": median(figures["edits"]),
    }


def builds(results: dict) -> dict | None:
    figures = results.get("builds")
    if not figures:
        return None
    return {
        "runs": len(figures["cold"]),
        "cold": median(figures["cold"]),
        "code": median(figures["code"]),
        "deps": median(figures["deps"]),
        "code_ratio": figures["code_ratio"],
        "deps_ratio": figures["deps_ratio"],
    }


def sizes(results: dict) -> dict | None:
    figures = results.get("sizes")
    if not figures:
        return None
    base = figures["base"] / MB
    web, naive = figures["web"] / MB, figures["naive"] / MB
    return {"base": base, "web": web, "naive": naive, "web_over": web - base,
            "naive_over": naive - base}  # fmt: skip


def installers(results: dict) -> dict | None:
    figures = results.get("installers")
    if not figures:
        return None
    pip, uv = figures["pip"], figures["uv"]
    rows = [
        (label, median(pip[key]), median(uv[key]), median(uv[key]) / median(pip[key]))
        for label, key in (
            ("cold build (`--no-cache`, empty download cache), s", "cold"),
            ("rebuild after a code-only change, s", "code"),
            ("rebuild after adding one dependency, s", "deps"),
        )
    ]
    return {
        "runs": len(pip["cold"]),
        "rows": rows,
        "pip_over": pip["over_base"] / MB,
        "uv_over": uv["over_base"] / MB,
        "lock": figures["lock_median"],
    }


def load(results: dict) -> dict | None:
    figures = results.get("load")
    if not figures:
        return None
    rows = {
        server: {
            "rps": median(r["rps"] for r in runs),
            "p50": median(r["p50"] for r in runs),
            "p99": median(r["p99"] for r in runs),
            "errors": sum(r["errors"] for r in runs),
            "ratio": ratio(figures, "gunicorn", server),
        }
        for server, runs in figures["runs"].items()
    }
    return {
        **{key: figures[key] for key in ("generator", "seconds", "connections", "path")},
        "runs": len(figures["runs"]["gunicorn"]),
        "rows": rows,  # by server: "gunicorn" (the app as configured), "flask run", "bare WSGI"
        "server_ratio": ratio(figures, "gunicorn", "flask run"),
        "framework_ratio": ratio(figures, "gunicorn", "bare WSGI"),
    }


def suite(results: dict) -> dict | None:
    tiers = results.get("suite")
    if not tiers:
        return None
    seconds = [tier.get("seconds") for tier in tiers]
    fast = next((t.get("seconds") for t in tiers if t["tier"] == FAST), None)
    every = None if None in seconds else sum(seconds) / 60
    return {"tiers": tiers, "fast": fast, "every_minutes": every}


def targets(summary: dict) -> list[Target]:
    """Return the targets whose measures ran, each with its figure and verdict."""
    rows: list[Target] = []
    if cold := summary["coldstart"]:
        approaches = cold["rows"]
        template = approaches["template"]
        # Only `make up` and `up --wait` wait for healthy; the seeds' commands return at
        # once, so their first good answer is what compares.
        healthy = ", ".join(
            f"{a} {approaches[a]['returned']:.1f} s"
            for a in ("template", "prestart")
            if a in approaches
        )
        first = ", ".join(f"{a} {row['first']:.1f} s" for a, row in approaches.items())
        rows += [
            Target("gap", "db accepts TCP as the app's user → first good request, fresh "
                   f"volume ≤ 1.0 s (median of {cold['runs']})", f"{template['gap']:.2f} s",
                   template["gap"] <= 1.0),
            Target("failed", "failed requests seen by a client polling from `up`: 0",
                   f"{template['failed_worst']} (worst run)", template["failed_worst"] == 0),
            Target("cold", "cold `make up` on a fresh volume to healthy, beside the other ways",
                   f"to healthy: {healthy}; first 200: {first}", None),
        ]  # fmt: skip
    if figures := summary["dev"]:
        rows.append(Target("edit", "edit → new code served in development < 1 s",
                           f"{figures['edit']:.2f} s", figures["edit"] < 1))  # fmt: skip
    if figures := summary["builds"]:
        code, deps = figures["code_ratio"], figures["deps_ratio"]
        rows += [
            Target("code", "rebuild after a code-only change < 5 % of a cold build",
                   f"{code:.0%}", code < 0.05),
            Target("deps", "rebuild after one new dependency < 30 % of a cold build",
                   f"{deps:.0%}", deps < 0.30),
        ]  # fmt: skip
    if figures := summary["sizes"]:
        over = figures["web_over"]
        rows.append(Target("size", "web image at most 60 MB over its base", f"{over:.0f} MB",
                           over <= 60))  # fmt: skip
    if figures := summary["idle"]:
        development, production = figures["development"], figures["production"]
        cpu = development["cpu_db_percent"] + development["cpu_web_percent"]
        db = development["memory_db_mb"]
        rows += [
            Target("cpu", "idle stack CPU (db + web, healthchecks included) ≤ 1 % of one core",
                   f"{cpu:.2f} %", cpu <= 1),
            Target("db_memory", "idle database memory in development ≤ 250 MB",
                   f"{db:.0f} MB (production file: {production['memory_db_mb']:.0f} MB)",
                   db <= 250),
            Target("web_memory", "web memory, 2 workers, idle (production)",
                   f"{production['memory_web_mb']:.0f} MB", None),
        ]  # fmt: skip
    if figures := summary["load"]:
        path, server, framework = (
            f"`{figures['path']}`",
            figures["server_ratio"],
            figures["framework_ratio"],
        )
        p99 = figures["rows"]["gunicorn"]["p99"]
        rows += [
            Target("server", f"{path} read: gunicorn as configured ≥ 2× `flask run` req/s",
                   f"{server:.2f}×", server >= 2),
            Target("framework", f"{path} read: the app ≥ 0.5× a bare WSGI function, same "
                   "query and stack", f"{framework:.2f}×", framework >= 0.5),
            Target("p99", f"{path} p99 at {figures['connections']} connections < 25 ms",
                   f"{p99:.1f} ms", p99 < 25),
        ]  # fmt: skip
    if figures := summary["suite"]:
        if figures["fast"] is not None:
            rows.append(Target("fast", "template tests: fast tier < 60 s",
                               f"{figures['fast']:.0f} s", figures["fast"] < 60))  # fmt: skip
        label = "template tests: every tier (the CI's test command) < 20 min"
        if (every := figures["every_minutes"]) is not None:
            rows.append(Target("every", label, f"{every:.1f} min", every < 20))
        else:
            missing = ", ".join(t["tier"] for t in figures["tiers"] if t.get("seconds") is None)
            rows.append(Target("every", label, f"not measured: {missing} not run", None))
    return rows


def summarize(results: dict) -> dict:
    """Everything the report shows, computed once from the raw results."""
    summary = {
        "machine": results["machine"],
        "coldstart": coldstart(results),
        "dev": dev(results),
        "builds": builds(results),
        "sizes": sizes(results),
        "installers": installers(results),
        "idle": results.get("idle"),
        "load": load(results),
        "suite": suite(results),
    }
    summary["targets"] = targets(summary)
    summary["missed"] = {t.key for t in summary["targets"] if t.met is False}
    return summary
