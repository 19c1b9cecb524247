"""Turn the results into the targets table, docs/benchmarks.md and the cold-start PNG."""

from __future__ import annotations

import math
from pathlib import Path

from coldstart import APPROACHES
from common import median

MB = 1e6  # Docker's unit for image sizes
OUTCOME_STYLE = {
    "refused": ("#9e9e9e", "no answer (nothing listening)"),
    "failed": ("#d62728", "failed (error answer)"),
    "good": ("#2ca02c", "good (200)"),
}


def fmt(value, digits=1, unit="") -> str:
    """Format a number, or a dash for a missing one."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}{unit}"


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**met**" if ok else "**not met**")


def by_approach(results: dict) -> dict[str, list[dict]]:
    runs = results.get("coldstart", [])
    return {a: [r for r in runs if r["approach"] == a] for a in APPROACHES}


def targets(results: dict) -> list[tuple[str, str, bool | None]]:
    """Return (target, figure, met) for each target whose measure ran."""
    rows = []
    template = by_approach(results)["template"]
    if template:
        gap = median(r["gap"] for r in template)
        rows.append(("first 200 within 2 s of the db accepting TCP", f"{gap:.1f} s", gap <= 2))
        worst = max(r["failed"] for r in template)
        rows.append(
            ("zero failed requests during a cold start", f"{worst} (worst run)", worst == 0)
        )
    dev = results.get("dev")
    if dev:
        edit = median(dev["edits"])
        rows.append(("an edit served in under 2 s (development mode)", f"{edit:.2f} s", edit < 2))
    builds = results.get("builds")
    if builds:
        ratio = builds["code_ratio"]
        rows.append(("code-only rebuild under 15 % of a cold build", f"{ratio:.0%}", ratio < 0.15))
    sizes = results.get("sizes")
    if sizes:
        over = (sizes["web"] - sizes["base"]) / MB
        rows.append(("web image at most 60 MB over its base", f"{over:.0f} MB", over <= 60))
    load = results.get("load")
    if load:
        for path in ("/health", "/api/items"):
            ratio, p99 = load_figures(load, path)
            rows.append(
                (f"`{path}`: gunicorn ≥ 1.5× `flask run` req/s", f"{ratio:.2f}×", ratio >= 1.5)
            )
            rows.append((f"`{path}`: gunicorn p99 < 50 ms at 32 connections", f"{p99:.0f} ms",
                         p99 < 50))  # fmt: skip
    idle = results.get("idle")
    if idle:
        dev, production = idle["development"], idle["production"]
        cpu = dev["cpu_db_percent"] + dev["cpu_web_percent"]
        rows.append(("idle stack CPU (db + web, healthchecks included) ≤ 1 % of one core",
                     f"{cpu:.2f} %", cpu <= 1))  # fmt: skip
        db = dev["memory_db_mb"]
        rows.append(("idle database memory in development ≤ 250 MB",
                     f"{db:.0f} MB (production file: {production['memory_db_mb']:.0f} MB)",
                     db <= 250))  # fmt: skip
        rows.append(("web memory, 2 workers, idle (production)",
                     f"{production['memory_web_mb']:.0f} MB", None))  # fmt: skip
    return rows


def load_figures(load: dict, path: str) -> tuple[float, float]:
    """Return the median req/s ratio gunicorn/flask run and gunicorn's median p99."""
    runs = load["runs"]
    gunicorn, flask = runs["gunicorn"][path], runs["flask run"][path]
    ratios = [g["rps"] / f["rps"] for g, f in zip(gunicorn, flask, strict=True) if f["rps"]]
    return median(ratios), median(r["p99"] for r in gunicorn)


def coldstart_section(results: dict) -> list[str]:
    groups = by_approach(results)
    template_first = median(r["first_good"] for r in groups["template"])
    lines = [
        "## 1. Cold start",
        "",
        "A fresh stack (new Compose project, empty database volume; images already built), "
        "from the moment `up` is issued. A client sends `GET /api/items` (database-backed) "
        "every 100 ms from that moment; *failed* = an error answer (5xx or no answer within "
        "2 s after connecting), *unanswered* = nothing listening yet (connection refused or "
        "closed). *db TCP* = the first moment a TCP connection to the published db port, as "
        "the app's user, runs `SELECT 1`. Seconds from `up`, medians of "
        f"{len(groups['template'])} run(s) each; failed/unanswered as median (worst).",
        "",
        "| approach | first 200 | vs template | db TCP | db TCP → first 200 | failed | unanswered "
        "| command returned |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for approach, runs in groups.items():
        if not runs:
            continue
        first = median(r["first_good"] for r in runs)
        failed = f"{median(r['failed'] for r in runs):g} ({max(r['failed'] for r in runs)})"
        refused = f"{median(r['refused'] for r in runs):g} ({max(r['refused'] for r in runs)})"
        lines.append(
            f"| {APPROACHES[approach]} | {fmt(first)} s | {fmt(first / template_first, 2)}× "
            f"| {fmt(median(r['db_tcp'] for r in runs))} s "
            f"| {fmt(median(r['gap'] for r in runs))} s | {failed} | {refused} "
            f"| {fmt(median(r['returned'] for r in runs))} s |"
        )
    template = groups["template"]
    if template:
        parts = [
            ("db accepts TCP → web container started (db healthcheck, Compose)", "db_tcp",
             "web_started"),
            ("web started → `wait-for-db` says ready (a Python start)", "web_started",
             "db_said_ready"),
            ("ready → server listening (`flask db upgrade`, server start)", "db_said_ready",
             "listening"),
            ("listening → first 200", "listening", "first_good"),
        ]  # fmt: skip
        lines += ["", "Where the template's gap goes (medians):", "", "| step | seconds |",
                  "|---|---|"]  # fmt: skip
        for label, start, end in parts:
            spans = [r[end] - r[start] for r in template if r.get(start) and r.get(end)]
            lines.append(f"| {label} | {fmt(median(spans), 2)} |")
    lines += ["", "![Cold start: requests along a time axis](coldstart.png)", ""]
    return lines


def dev_and_build_section(results: dict) -> list[str]:
    lines = []
    dev = results.get("dev")
    if dev:
        lines += [
            "## 2. Warm restart",
            "",
            "`make down`, then `make up` with the database volume present, to both services "
            f"healthy (`make up` returns). Medians of {len(dev['warm_up'])} run(s).",
            "",
            "| step | seconds |",
            "|---|---|",
            f"| `make down` | {fmt(median(dev['down']))} |",
            f"| `make up` to healthy | {fmt(median(dev['warm_up']))} |",
            "",
            f"Data kept across the restarts: {'yes' if dev['data_kept'] else '**no**'}.",
            "",
        ]
    builds = results.get("builds")
    if dev or builds:
        lines += ["## 3. Edit to new code served", "", "| change | seconds | vs cold build |",
                  "|---|---|---|"]  # fmt: skip
    if dev:
        lines.append(
            f"| development mode (override: bind mount, `flask run --debug` reloader), edit "
            f"to served, median of {len(dev['edits'])} | {fmt(median(dev['edits']), 2)} | |"
        )
    if builds:
        cold = median(builds["cold"])
        lines += [
            f"| cold build of the web image (`build --no-cache`) | {fmt(cold)} | 1 |",
            f"| rebuild after a code-only change | {fmt(median(builds['code']))} "
            f"| {builds['code_ratio']:.0%} |",
            f"| rebuild after a dependency change (one package added) "
            f"| {fmt(median(builds['deps']))} | {builds['deps_ratio']:.0%} |",
        ]
    if dev or builds:
        lines += [
            "",
            "Builds are of the production image (`docker-compose.yml` alone), medians of "
            f"{len(builds['cold']) if builds else 0} run(s); every change is unique, so no "
            "rebuild is a cache hit from an earlier run.",
            "",
        ]
    return lines


def size_section(results: dict) -> list[str]:
    sizes = results.get("sizes")
    if not sizes:
        return []
    base = sizes["base"]
    return [
        "## 4. Image size",
        "",
        "| image | size | over the base |",
        "|---|---|---|",
        f"| base (`PYTHON_IMAGE`) | {base / MB:.0f} MB | |",
        f"| the template's web image (multi-stage) | {sizes['web'] / MB:.0f} MB "
        f"| {(sizes['web'] - base) / MB:.0f} MB |",
        f"| naive single-stage image, same app and base (`bench/Dockerfile.naive`) "
        f"| {sizes['naive'] / MB:.0f} MB | {(sizes['naive'] - base) / MB:.0f} MB |",
        "",
    ]


def installers_section(results: dict) -> list[str]:
    figures = results.get("installers")
    if not figures:
        return []
    pip, uv = figures["pip"], figures["uv"]

    def row(label: str, key: str) -> str:
        ratio = median(uv[key]) / median(pip[key])
        return f"| {label} | {fmt(median(pip[key]))} | {fmt(median(uv[key]))} | {ratio:.0%} |"

    return [
        "## 4b. pip against uv (the same image, two installers)",
        "",
        "| production image | pip (`bench/Dockerfile.pip`) | uv (`Dockerfile`, uv.lock) "
        "| uv / pip |",
        "|---|---|---|---|",
        row("cold build (`--no-cache`, empty download cache), s", "cold"),
        row("rebuild after a code-only change, s", "code"),
        row("rebuild after adding one dependency, s", "deps"),
        f"| size over the base | {pip['over_base'] / MB:.0f} MB | {uv['over_base'] / MB:.0f} MB "
        f"| {uv['over_base'] / pip['over_base']:.0%} |",
        "",
        f"Medians of {len(pip['cold'])} run(s), alternating. uv's dependency rebuild "
        f"follows `uv lock` ({fmt(figures['lock_median'], 1)} s, not counted), as `make add` "
        "does; its cache mount keeps the other downloads, while pip fetches every package again.",
        "",
    ]


def idle_section(results: dict) -> list[str]:
    idle = results.get("idle")
    if not idle:
        return []
    lines = [
        "## 4c. An idle stack",
        "",
        "A fresh stack, healthy, left alone: CPU time its containers used over the window "
        "(from their cgroups, healthchecks included) as % of one core, and the memory "
        "`docker stats` shows at its end.",
        "",
        "| stack | window | db CPU | web CPU | db memory | web memory |",
        "|---|---|---|---|---|---|",
    ]
    for mode, figures in idle.items():
        lines.append(
            f"| {mode} | {figures['seconds']:.0f} s | {figures['cpu_db_percent']:.2f} % "
            f"| {figures['cpu_web_percent']:.2f} % | {figures['memory_db_mb']:.0f} MB "
            f"| {figures['memory_web_mb']:.0f} MB |"
        )
    return [*lines, ""]


def load_section(results: dict) -> list[str]:
    load = results.get("load")
    if not load:
        return []
    lines = [
        "## 5. Throughput and latency on loopback",
        "",
        f"{load['generator']}, 2 threads, 32 connections, {load['seconds']:g} s per run, "
        "gunicorn and `flask run` (threaded, no debugger) alternating, from the same "
        "production image on the same database; medians of "
        f"{len(load['runs']['gunicorn']['/health'])} run(s). `/api/items` lists 10 items.",
        "",
        "| endpoint | server | req/s | p50 | p99 | non-200 | req/s ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for path in ("/health", "/api/items"):
        ratio, _ = load_figures(load, path)
        for server in ("gunicorn", "flask run"):
            runs = load["runs"][server][path]
            lines.append(
                f"| `{path}` | {server} | {median(r['rps'] for r in runs):.0f} "
                f"| {median(r['p50'] for r in runs):.1f} ms | {median(r['p99'] for r in runs):.1f}"
                f" ms | {sum(r['errors'] for r in runs)} "
                f"| {f'{ratio:.2f}×' if server == 'gunicorn' else '1'} |"
            )
    return [*lines, ""]


def suite_section(results: dict) -> list[str]:
    tiers = results.get("suite")
    if not tiers:
        return []
    lines = ["## 6. The template's test suite", "", "| tier | seconds | pytest says |",
             "|---|---|---|"]  # fmt: skip
    for tier in tiers:
        lines.append(f"| {tier['tier']} | {fmt(tier['seconds'])} | {tier['summary']} |")
    return [*lines, ""]


def targets_table(results: dict) -> list[str]:
    lines = ["| target | figure | |", "|---|---|---|"]
    for target, figure, ok in targets(results):
        lines.append(f"| {target} | {figure} | {verdict(ok)} |")
    return lines


def markdown(results: dict, notes: list[str]) -> str:
    """Render docs/benchmarks.md."""
    machine = results["machine"]
    lines = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (`bench/run.py`); do not edit by hand. "
        "What each figure means and how it is measured: [bench/README.md](../bench/README.md).",
        "",
        f"Run on {machine['date']}: {machine['cores']} cores, {machine['memory_gib']:.0f} GiB, "
        f"Docker engine {machine['engine']}, Compose {machine['compose']}, "
        f"images `{machine['python_image']}` and `{machine['mysql_image']}` "
        f"({machine.get('mysql_server') or 'server version not recorded'})"
        f"{' (--quick: one run each)' if machine.get('quick') else ''}.",
        "",
        "Absolute times are noisy (one shared 2-core machine, network for `pip`); every "
        "comparison is measured side by side in the same run, alternating, so the ratios "
        "are the figures to trust.",
        "",
        "## Targets",
        "",
        *targets_table(results),
        "",
    ]
    if notes:
        lines += ["Why a target is missed, and what would reach it:", ""]
        lines += [f"- {note}" for note in notes]
        lines.append("")
    lines += coldstart_section(results)
    lines += dev_and_build_section(results)
    lines += size_section(results)
    lines += installers_section(results)
    lines += idle_section(results)
    lines += load_section(results)
    lines += suite_section(results)
    return "\n".join(lines).rstrip() + "\n"


def representative(runs: list[dict]) -> dict:
    """Return the run whose first 200 is closest to the median."""
    middle = median(r["first_good"] for r in runs)
    return min(runs, key=lambda r: abs(r["first_good"] - middle))


def plot(results: dict, path: Path) -> None:
    """Draw each approach's polling client: one dot per request, by outcome, over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = {a: runs for a, runs in by_approach(results).items() if runs}
    figure, axes = plt.subplots(len(groups), 1, figsize=(10, 1.5 + 1.3 * len(groups)),
                                sharex=True, squeeze=False)  # fmt: skip
    for axis, (approach, runs) in zip(axes[:, 0], groups.items(), strict=True):
        run = representative(runs)
        for outcome, (color, label) in OUTCOME_STYLE.items():
            times = [t for t, o in run["samples"] if o == outcome]
            axis.scatter(times, [0] * len(times), s=40, marker="|", color=color, label=label)
        if run["db_tcp"] is not None:
            axis.axvline(run["db_tcp"], color="#1f77b4", linestyle="--", linewidth=1,
                         label="db accepts TCP")  # fmt: skip
        axis.set_yticks([])
        axis.set_title(
            f"{APPROACHES[approach]}: first 200 at {run['first_good']:.1f} s, "
            f"{run['failed']} failed, {run['refused']} unanswered",
            fontsize=9, loc="left",
        )  # fmt: skip
    axes[-1, 0].set_xlabel("seconds since `up` was issued (one mark per request, every 100 ms)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
    figure.suptitle("Cold start: what a client polling GET /api/items sees", fontsize=11)
    figure.tight_layout(rect=(0, 0.06, 1, 1))
    figure.savefig(path, dpi=110)
    plt.close(figure)


def gap_steps(results: dict) -> list[float]:
    """Return the medians of the template's gap steps (see coldstart_section)."""
    template = by_approach(results)["template"]
    keys = ["db_tcp", "web_started", "db_said_ready", "listening", "first_good"]
    return [
        median(r[end] - r[start] for r in template if r.get(start) and r.get(end))
        for start, end in zip(keys, keys[1:], strict=False)
    ]


def notes(results: dict) -> list[str]:
    """Explain each missed target with the figures that show why, and what would reach it."""
    missed = [target for target, _, ok in targets(results) if ok is False]
    found = []
    if any("within 2 s" in target for target in missed):
        health, wait, prepare, _ = gap_steps(results)
        found.append(
            f"**First 200 within 2 s of db TCP.** {health:.1f} s of the gap pass before "
            "Compose starts web: the db healthcheck probes every 500 ms while the server "
            "starts (`start_interval`), the probe itself starts a client, and Compose then "
            "notices and starts the "
            f"container. Then {wait:.1f} s for `flask wait-for-db` (one Python start) and "
            f"{prepare:.1f} s for a second Python start running `flask db upgrade` plus the "
            "server's start (`flask run --debug` imports the app twice: reloader and child). "
            "What would reach it: one process that waits, migrates and serves (the wait and "
            "the upgrade in one command, the server started by it), about 0.5 s less; the "
            "template keeps the two steps apart so that the entrypoint reads as what it does."
        )
    if any("idle stack CPU" in target for target in missed):
        dev, production = results["idle"]["development"], results["idle"]["production"]
        found.append(
            f"**Idle CPU.** The database alone takes {dev['cpu_db_percent']:.2f} % of a core "
            f"in development and {production['cpu_db_percent']:.2f} % with the production "
            "file: MySQL's own background threads (InnoDB's master, purge and page cleaner "
            "wake every second), not our healthcheck, which runs every 30 s once healthy. "
            f"Web takes {dev['cpu_web_percent']:.2f} % in development against "
            f"{production['cpu_web_percent']:.2f} % under gunicorn: Werkzeug's reloader "
            "walks the loaded modules every second. What would reach it: `make up` without "
            "the reloader (edits then need a restart), and a database that sleeps when idle."
        )
    if any("zero failed" in target for target in missed):
        found.append(
            "**Zero failed requests.** The template answered errors during a cold start; "
            "see the PNG for when, and `make logs` of such a run."
        )
    if any("60 MB" in target for target in missed):
        found.append(
            "**Image size.** The layer over the base is the venv copied from the build "
            "stage, and it already ships no pip (pip installs into it from a venv of its own "
            "that stays in the build stage). What remains is the dependencies themselves, "
            "cryptography (for MySQL 8.4's authentication) and SQLAlchemy's compiled parts "
            "the largest. Dropping the `.pyc` files (`pip install --no-compile`) would save "
            "more but makes every start slower, as `PYTHONDONTWRITEBYTECODE=1` never caches "
            "them."
        )
    if any("≥ 1.5×" in target for target in missed):
        found.append(
            "**gunicorn against flask run.** Both share two cores with the load generator "
            "and the database; the ratio is bounded by that, not by gunicorn's settings."
        )
    if any("p99" in target for target in missed):
        found.append(
            "**p99 under 50 ms at 32 connections.** Two sync workers serve one request each; "
            "the other 30 connections wait in the accept queue, so p50 is already about "
            "32 / (req/s) (Little's law) and p99 adds the scheduling noise of a machine "
            "whose two cores also run wrk and the database. Under 50 ms at p99 needs about "
            "1000 req/s or more here: less CPU per request (the access log to stdout goes "
            "through Docker's log driver for every request: `accesslog = None` or a "
            "sampled log; `/health` runs two queries and builds an Alembic context each "
            "time), or more cores. Adding workers on two cores does not add throughput."
        )
    return found
