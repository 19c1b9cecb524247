"""Compute what docs/benchmarks.md shows from the raw results: medians, ratios, targets.

Numbers only; the words around them live in templates/benchmarks.md.j2, the
picture in plot.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from coldstart import APPROACHES, DATABASES, DEFAULT_DATABASE
from common import median
from suite import EMPTY_BY_DESIGN, FAST

MB = 1e6  # Docker's unit for image sizes
# The template's cold-start gap, step by step: key -> (label, from, to) event keys.
# The web container's start is not a step: web starts beside the database, so it
# is printed as a time from `up` instead.
GAP_STEPS = {
    "wait": ("db accepts TCP → server says the database is ready (in-process wait)", "db_tcp",
             "db_said_ready"),
    "prepare": ("ready → listening (migrations, then the socket is bound)", "db_said_ready",
                "listening"),
    "serve": ("listening → first 200", "listening", "first_good"),
}  # fmt: skip
# The targets' thresholds, in the units their figures are printed in.
COLD_RATIO = 1.0  # template's first 200 / the fastest other way's
GAP_SECONDS = 0.5
WARM_SECONDS = 4.0
EDIT_SECONDS = 0.5
IDLE_CPU_PERCENT = 1.0
# The template's own suite (issue: CI in under 10 minutes on two cores).
CI_WARM_MINUTES = 10
CI_COLD_MINUTES = 15
FAST_SECONDS = 20


@dataclass(frozen=True)
class Target:
    key: str  # names the target for the notes in the template
    label: str
    figure: str
    met: bool | None  # None: printed only


def by_approach(results: dict, database: str = DEFAULT_DATABASE) -> dict[str, list[dict]]:
    """Return one database's cold starts, by approach."""
    runs = [
        r for r in results.get("coldstart", [])
        if r.get("database", DEFAULT_DATABASE) == database
    ]  # fmt: skip
    return {a: [r for r in runs if r["approach"] == a] for a in APPROACHES}


def between(runs: list[dict], start: str, end: str) -> float:
    """Return the median of end - start over the runs that recorded both."""
    return median(
        r[end] - r[start] for r in runs if r.get(start) is not None and r.get(end) is not None
    )


def ratio(load: dict, server: str, other: str) -> float:
    """Return the median of server's req/s over other's, run by run (they alternate)."""
    runs = load["runs"]
    pairs = zip(runs[server], runs[other], strict=True)
    return median(a["rps"] / b["rps"] for a, b in pairs if b["rps"])


def gap_steps(template: list[dict]) -> dict[str, dict]:
    """Return each step of the template's gap: its label and median seconds."""
    return {
        key: {"label": label, "seconds": between(template, start, end)}
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
        # The database's first init: its container's start to db TCP.
        "first_init": between(runs, "db_started", "db_tcp"),
        "gap": median(r["gap"] for r in runs),
        "failed": median(r["failed"] for r in runs),
        "failed_worst": max(r["failed"] for r in runs),
        "refused": median(r["refused"] for r in runs),
        "refused_worst": max(r["refused"] for r in runs),
        "returned": median(r["returned"] for r in runs),
    }


def fastest_other(rows: dict[str, dict]) -> str | None:
    """Return the approach other than the template with the earliest first 200."""
    others = [a for a in rows if a != "template"]
    return min(others, key=lambda a: rows[a]["first"]) if others else None


def cold_database(database: str, results: dict) -> dict | None:
    """Return one database's cold-start figures, or None if its template never ran."""
    groups = {a: runs for a, runs in by_approach(results, database).items() if runs}
    template = groups.get("template")
    if not template:
        return None
    template_first = median(r["first_good"] for r in template)
    # By approach, in APPROACHES order; "template" is always there.
    rows = {a: approach_row(a, runs, template_first) for a, runs in groups.items()}
    fastest = fastest_other(rows)
    return {
        "name": DATABASES[database][1],
        "runs": len(template),
        "rows": rows,
        "steps": gap_steps(template),
        "web_started": median(r.get("web_started") for r in template),
        "fastest": fastest,
        # Template / fastest other way, medians of the same run's alternating starts.
        "ratio": template_first / rows[fastest]["first"] if fastest else None,
    }


def coldstart(results: dict) -> dict | None:
    """Return the cold-start figures by database (the default first), or None."""
    databases = {database: cold_database(database, results) for database in DATABASES}
    return {database: cold for database, cold in databases.items() if cold} or None


def dev(results: dict) -> dict | None:
    figures = results.get("dev")
    if not figures:
        return None
    return {
        "runs": len(figures["warm_up"]),
        "down": median(figures["down"]),
        "warm_up": median(figures["warm_up"]),
        # The database server's own start within it (absent from older results).
        "db_start": median(figures.get("db_start", [])),
        "data_kept": figures["data_kept"],
        "edits": len(figures["edits"]),
        "edit": median(figures["edits"]),
        "edit_fastest": min(figures["edits"]),
        "edit_slowest": max(figures["edits"]),
        # Seconds: the app's import and create_app; what Sentry and OpenTelemetry
        # would add; their modules loaded while off (absent from older results).
        "imports": figures.get("imports"),
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
            # Its container's memory halfway through the load (absent from older results).
            "memory": median(r.get("memory_mb") for r in runs),
            # CPU milliseconds per request (absent from older results).
            "server_cpu": median(r.get("server_cpu_ms") for r in runs),
            "db_cpu": median(r.get("db_cpu_ms") for r in runs),
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
    measured = results.get("suite")
    if not measured:
        return None
    if isinstance(measured, list):  # a results.json from before the CI run was timed
        measured = {"ci": None, "note": "CI run not timed by that bench", "tiers": measured}
    fast = next((t.get("seconds") for t in measured["tiers"] if t["tier"] == FAST), None)
    ci = measured["ci"]
    scenarios = ci["scenarios"] if ci else []
    empty = [s for s in scenarios if "empty" in s["database"].split("+")]
    return {
        **measured,
        "fast": fast,
        "scenarios": sorted(scenarios, key=lambda s: -s["seconds"]),
        "initialised": len(scenarios) - len(empty),
        "empty": len(empty),
        "unreviewed": [
            s["scenario"] for s in empty if s["scenario"].split("[")[0] not in EMPTY_BY_DESIGN
        ],  # fmt: skip
    }


def cold_targets(database: str, cold: dict) -> list[Target]:
    """Return one database's cold-start targets: the ratio, the gap, the first init."""
    name, runs = cold["name"], cold["runs"]
    template = cold["rows"]["template"]
    rows: list[Target] = []
    if fastest := cold["fastest"]:
        ratio, worst = cold["ratio"], template["failed_worst"]
        rows.append(Target(
            f"cold-{database}", f"cold `make up`, fresh volume, {name}: first 200, template / "
            f"the fastest of the seeds' ways and `prestart`, same run ≤ {COLD_RATIO:.2f}, with "
            "0 failed requests",
            f"{ratio:.2f}× (template {template['first']:.1f} s / {fastest} "
            f"{cold['rows'][fastest]['first']:.1f} s); failed: {worst} (worst template run)",
            ratio <= COLD_RATIO and worst == 0,
        ))  # fmt: skip
    rows += [
        Target(f"gap-{database}", f"database ready (accepts TCP as the app's user) → first "
               f"200, fresh volume, {name} ≤ {GAP_SECONDS} s (median of {runs})",
               f"{template['gap']:.2f} s", template["gap"] <= GAP_SECONDS),
        Target(f"init-{database}", f"fresh-volume first init of the database, {name}: its "
               "container's start → it accepts TCP as the app's user (median of the template's "
               f"{runs} cold starts)", f"{template['first_init']:.1f} s", None),
    ]  # fmt: skip
    return rows


def dev_targets(figures: dict) -> list[Target]:
    """Return the warm restart's and the edit's targets."""
    warm, runs = figures["warm_up"], figures["runs"]
    server = DATABASES[DEFAULT_DATABASE][1]  # the development stage bakes the defaults
    return [
        Target("warm", f"warm `make up` (volume kept) to healthy ≤ {WARM_SECONDS:g} s (median "
               f"of {runs})", f"{warm:.1f} s; {server}'s own start: {figures['db_start']:.1f} s",
               warm <= WARM_SECONDS),
        Target("edit", f"edit → new code served, development ≤ {EDIT_SECONDS} s (median of "
               f"{figures['edits']})", f"{figures['edit']:.2f} s", figures["edit"] <= EDIT_SECONDS),
        *telemetry_targets(figures.get("imports")),
    ]  # fmt: skip


def telemetry_targets(imports: dict | None) -> list[Target]:
    """Sentry and OpenTelemetry cost nothing while unset: none of their modules loaded."""
    if not imports:
        return []
    loaded = ", ".join(imports["loaded_when_off"]) or "none"
    ms = {name: f"{imports[name] * 1000:.0f} ms" for name in ("app", "sentry", "opentelemetry")}
    added = (f"app import {ms['app']}; Sentry would add {ms['sentry']}, "
             f"OpenTelemetry {ms['opentelemetry']}")  # fmt: skip
    return [Target("telemetry", "telemetry unset: no module of Sentry or OpenTelemetry loaded",
                   f"loaded: {loaded} ({added})", not imports["loaded_when_off"])]  # fmt: skip


def idle_targets(figures: dict) -> list[Target]:
    """Return one CPU target per idle stack measured, then the memory figures."""
    rows: list[Target] = []
    for mode, f in figures.items():
        db, web = f["cpu_db_percent"], f["cpu_web_percent"]
        rows.append(Target(
            f"cpu-{mode}", f"idle stack, {mode} (db + web, healthchecks included, "
            f"{f['seconds']:.0f} s) ≤ {IDLE_CPU_PERCENT:g} % of one core",
            f"{db + web:.2f} % (db {db:.2f} %, web {web:.2f} %)", db + web <= IDLE_CPU_PERCENT,
        ))  # fmt: skip
    if "development" in figures and "production" in figures:
        development, production = figures["development"], figures["production"]
        db = development["memory_db_mb"]
        rows += [
            Target("db_memory", "idle database memory in development ≤ 250 MB",
                   f"{db:.0f} MB (production file: {production['memory_db_mb']:.0f} MB)",
                   db <= 250),
            Target("web_memory", "web memory, 2 workers of 4 threads, idle (production)",
                   f"{production['memory_web_mb']:.0f} MB", None),
        ]  # fmt: skip
    return rows


def targets(summary: dict) -> list[Target]:
    """Return the targets whose measures ran, each with its figure and verdict."""
    rows: list[Target] = []
    for database, cold in (summary["coldstart"] or {}).items():
        rows += cold_targets(database, cold)
    if figures := summary["dev"]:
        rows += dev_targets(figures)
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
        rows += idle_targets(figures)
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
        rows += suite_targets(figures)
    return rows


def suite_targets(figures: dict) -> list[Target]:
    """The suite's rows: CI wall clock warm and cold, the fast tier, initialised starts."""
    ci, note = figures["ci"], figures["note"]
    rows = []
    other = figures.get("other_ci")
    for held, limit, label in (
        (True, CI_WARM_MINUTES, "engine and stand-in images held"),
        (False, CI_COLD_MINUTES, "machine holding nothing (engine and images made by the run)"),
    ):
        text = f"`bash .ci/run` on a fresh clone, wall clock, {label} ≤ {limit} min"
        run = next((r for r in (ci, other) if r and r["held"] == held), None)
        # The other state's run comes from an earlier bench: say which.
        when = f" ({run['date']}, `{run['commit']}`)" if run and run is other else ""
        if run is None:
            kind = "held them" if ci and ci["held"] else "held nothing"
            why = f"this machine {kind}" if ci else note
            rows.append(Target(f"ci-{held}", text, f"not measured: {why}", None))
        elif not run["ok"] or run["seconds"] is None:
            failed = f"the run failed{when} (bench/out/ci-run.log)"
            rows.append(Target(f"ci-{held}", text, failed, False))
        else:
            minutes = run["seconds"] / 60
            rows.append(Target(f"ci-{held}", text, f"{minutes:.1f} min{when}", minutes <= limit))
    if figures["fast"] is not None:
        fast = figures["fast"]
        label = f"`make test-fast` ≤ {FAST_SECONDS} s"
        rows.append(Target("fast", label, f"{fast:.0f} s", fast <= FAST_SECONDS))
    label = "every scenario about something else than a first init starts initialised"
    if ci is None or not figures["scenarios"]:
        rows.append(Target("initialised", label, f"not measured: {note or 'no scenarios'}", None))
    else:
        unreviewed = figures["unreviewed"]
        by_design = figures["empty"] - len(unreviewed)
        figure = f"{figures['initialised']} initialised, {by_design} empty by design"
        if unreviewed:
            figure += f"; empty, not reviewed: {', '.join(unreviewed)}"
        rows.append(Target("initialised", label, figure, not unreviewed))
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
