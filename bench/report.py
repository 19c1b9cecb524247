"""Turn the results into the targets table, docs/benchmarks.md and the cold-start PNG."""

from __future__ import annotations

import math
from pathlib import Path

from coldstart import APPROACHES
from common import median
from suite import FAST

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
    """Return (target, figure, met) for each target whose measure ran; None: printed only."""
    rows = []
    rows += coldstart_targets(results)
    rows += edit_and_build_targets(results)
    rows += idle_targets(results)
    rows += load_targets(results)
    rows += suite_targets(results)
    return rows


def coldstart_targets(results: dict) -> list[tuple[str, str, bool | None]]:
    groups = by_approach(results)
    template = groups["template"]
    if not template:
        return []
    gap = median(r["gap"] for r in template)
    worst = max(r["failed"] for r in template)
    others = ", ".join(
        f"{approach} {fmt(median(r['returned'] for r in runs))} s"
        for approach, runs in groups.items()
        if runs and approach != "template"
    )
    returned = median(r["returned"] for r in template)
    return [
        (f"db accepts TCP as the app's user → first good request, fresh volume ≤ 1.0 s "
         f"(median of {len(template)})", f"{gap:.2f} s", gap <= 1.0),
        ("failed requests seen by a client polling from `up`: 0", f"{worst} (worst run)",
         worst == 0),
        ("cold `make up` on a fresh volume to healthy, beside the other ways",
         f"{returned:.1f} s ({others})", None),
    ]  # fmt: skip


def edit_and_build_targets(results: dict) -> list[tuple[str, str, bool | None]]:
    rows = []
    dev = results.get("dev")
    if dev:
        edit = median(dev["edits"])
        rows.append(("edit → new code served in development < 1 s", f"{edit:.2f} s", edit < 1))
    builds = results.get("builds")
    if builds:
        code, deps = builds["code_ratio"], builds["deps_ratio"]
        rows.append(("rebuild after a code-only change < 5 % of a cold build", f"{code:.0%}",
                     code < 0.05))  # fmt: skip
        rows.append(("rebuild after one new dependency < 30 % of a cold build", f"{deps:.0%}",
                     deps < 0.30))  # fmt: skip
    sizes = results.get("sizes")
    if sizes:
        over = (sizes["web"] - sizes["base"]) / MB
        rows.append(("web image at most 60 MB over its base", f"{over:.0f} MB", over <= 60))
    return rows


def idle_targets(results: dict) -> list[tuple[str, str, bool | None]]:
    idle = results.get("idle")
    if not idle:
        return []
    dev, production = idle["development"], idle["production"]
    cpu = dev["cpu_db_percent"] + dev["cpu_web_percent"]
    db = dev["memory_db_mb"]
    return [
        ("idle stack CPU (db + web, healthchecks included) ≤ 1 % of one core",
         f"{cpu:.2f} %", cpu <= 1),
        ("idle database memory in development ≤ 250 MB",
         f"{db:.0f} MB (production file: {production['memory_db_mb']:.0f} MB)", db <= 250),
        ("web memory, 2 workers, idle (production)", f"{production['memory_web_mb']:.0f} MB",
         None),
    ]  # fmt: skip


def load_targets(results: dict) -> list[tuple[str, str, bool | None]]:
    load = results.get("load")
    if not load:
        return []
    path, connections = f"`{load['path']}`", load["connections"]
    server = ratio(load, "gunicorn", "flask run")
    framework = ratio(load, "gunicorn", "bare WSGI")
    p99 = median(r["p99"] for r in load["runs"]["gunicorn"])
    return [
        (f"{path} read: gunicorn as configured ≥ 2× `flask run` req/s", f"{server:.2f}×",
         server >= 2),
        (f"{path} read: the app ≥ 0.5× a bare WSGI function, same query and stack",
         f"{framework:.2f}×", framework >= 0.5),
        (f"{path} p99 at {connections} connections < 25 ms", f"{p99:.1f} ms", p99 < 25),
    ]  # fmt: skip


def suite_targets(results: dict) -> list[tuple[str, str, bool | None]]:
    tiers = {tier["tier"]: tier for tier in results.get("suite", [])}
    rows = []
    fast = tiers.get(FAST, {}).get("seconds")
    if fast is not None:
        rows.append(("template tests: fast tier < 60 s", f"{fast:.0f} s", fast < 60))
    every = [tier.get("seconds") for tier in tiers.values()]
    if every and None not in every:
        total = sum(every) / 60
        rows.append(("template tests: every tier (the CI's test command) < 20 min",
                     f"{total:.1f} min", total < 20))  # fmt: skip
    return rows


def ratio(load: dict, server: str, other: str) -> float:
    """Return the median of server's req/s over other's, run by run (they alternate)."""
    runs = load["runs"]
    pairs = zip(runs[server], runs[other], strict=True)
    return median(a["rps"] / b["rps"] for a, b in pairs if b["rps"])


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
    runs = load["runs"]
    lines = [
        "## 5. Throughput and latency on loopback",
        "",
        f"{load['generator']}, 2 threads, {load['connections']} connections, "
        f"{load['seconds']:g} s per run against `{load['path']}` (10 items), the three servers "
        "alternating, from the same production image on the same database; medians of "
        f"{len(runs['gunicorn'])} run(s). *bare WSGI*: `bench/bare_wsgi.py`, the same query "
        "and JSON from a plain WSGI function on PyMySQL under the same gunicorn settings.",
        "",
        "| server | req/s | p50 | p99 | non-200 | gunicorn (the app) / this |",
        "|---|---|---|---|---|---|",
    ]
    for server, figures in runs.items():
        lines.append(
            f"| {server} | {median(r['rps'] for r in figures):.0f} "
            f"| {median(r['p50'] for r in figures):.1f} ms "
            f"| {median(r['p99'] for r in figures):.1f} ms "
            f"| {sum(r['errors'] for r in figures)} | {ratio(load, 'gunicorn', server):.2f}× |"
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
        f"Run on {machine['date']}, template at `{machine.get('commit') or 'unknown'}`: "
        f"{machine['cores']} cores, {machine['memory_gib']:.0f} GiB, "
        f"Docker engine {machine['engine']}, Compose {machine['compose']}, "
        f"images `{machine['python_image']}` and `{machine['mysql_image']}` "
        f"({machine.get('mysql_server') or 'server version not recorded'})"
        f"{' (--quick: one run each)' if machine.get('quick') else ''}.",
        "",
        "Absolute times are noisy (one shared machine, network for package downloads); every "
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


def missed(results: dict, words: str) -> bool:
    """Whether a target whose label contains words ran and was not met."""
    return any(words in target and ok is False for target, _, ok in targets(results))


def notes(results: dict) -> list[str]:
    """Explain each missed target with the figures that show why, and what would reach it."""
    found = []
    for explain in (gap_note, failed_note, edit_note, build_note, size_note, idle_note,
                    load_note, suite_note):  # fmt: skip
        found += explain(results)
    return found


def gap_note(results: dict) -> list[str]:
    if not missed(results, "first good request"):
        return []
    health, wait, prepare, serve = gap_steps(results)
    return [
        f"**db TCP → first good request.** {health:.2f} s pass before Compose starts web: "
        "the db healthcheck probes every 500 ms while the server starts (`start_interval`), "
        f"each probe starts a client, and Compose then notices and starts the container. "
        f"Then {wait:.2f} s for `flask wait-for-db` (one Python start), {prepare:.2f} s for a "
        "second Python start running `flask db upgrade` plus the server's start (`flask run "
        f"--debug` imports the app twice: reloader and child), {serve:.2f} s to the first "
        "answer. What would reach it: one process that waits, migrates and serves, and a "
        "faster `start_interval`; the template keeps the steps apart so that the entrypoint "
        "reads as what it does, and probes at 500 ms so that a slow first init costs little."
    ]


def failed_note(results: dict) -> list[str]:
    if not missed(results, "failed requests"):
        return []
    return [
        "**Zero failed requests.** The template answered errors during a cold start; see "
        "the PNG for when, and `make logs` of such a run."
    ]


def edit_note(results: dict) -> list[str]:
    if not missed(results, "edit → new code"):
        return []
    return [
        "**Edit to served.** The reloader notices the change (watchdog's inotify through "
        "the bind mount), then starts a new child that imports the app again; most of the "
        "time is that Python start. What would reach it: a lighter import (fewer modules "
        "loaded at start) or more cores."
    ]


def build_note(results: dict) -> list[str]:
    builds = results.get("builds")
    found = []
    if missed(results, "code-only change"):
        found.append(
            f"**Code-only rebuild.** {fmt(median(builds['code']))} s against a "
            f"{fmt(median(builds['cold']))} s cold build: BuildKit's own steps (context "
            "transfer, cache lookups, exporting and naming the image) cost this whatever "
            "changed; the dependency layers are all cache hits."
        )
    if missed(results, "one new dependency"):
        found.append(
            f"**Dependency rebuild.** {fmt(median(builds['deps']))} s: the `uv sync` layer runs "
            "again (the cache mount keeps the other wheels, so it downloads one package, but "
            "installs and byte-compiles the whole environment), then the layers after it. "
            "What would reach it: skipping byte-compilation at build time, which moves that "
            "cost to every container start."
        )
    return found


def size_note(results: dict) -> list[str]:
    if not missed(results, "60 MB"):
        return []
    return [
        "**Image size.** The layer over the base is the environment copied from the build "
        "stage, with no pip and no uv in it. What remains is the dependencies themselves, "
        "cryptography (for MySQL's authentication) and SQLAlchemy's compiled parts the "
        "largest, and their byte-compiled files, which make every start faster."
    ]


def idle_note(results: dict) -> list[str]:
    if not missed(results, "idle stack CPU"):
        return []
    dev, production = results["idle"]["development"], results["idle"]["production"]
    return [
        f"**Idle CPU.** The database alone takes {dev['cpu_db_percent']:.2f} % of a core "
        f"in development and {production['cpu_db_percent']:.2f} % with the production "
        "file: MySQL's own background threads (InnoDB's master, purge and page cleaner "
        "wake every second), not our healthcheck, which runs every 30 s once healthy. "
        f"Web takes {dev['cpu_web_percent']:.2f} % in development against "
        f"{production['cpu_web_percent']:.2f} % under gunicorn: Werkzeug's reloader "
        "keeps its watcher thread and child process awake. What would reach it: `make up` "
        "without the reloader (edits then need a restart), and a database that sleeps when "
        "idle."
    ]


def load_note(results: dict) -> list[str]:
    load = results.get("load")
    found = []
    if missed(results, "`flask run` req/s"):
        found.append(
            f"**gunicorn against flask run.** {ratio(load, 'gunicorn', 'flask run'):.2f}×: "
            "both share two cores with the load generator and the database, and most of a "
            "request's time is the query and the framework, which both servers pay alike; "
            "gunicorn's two sync workers cannot use more cores than there are."
        )
    if missed(results, "bare WSGI"):
        framework = ratio(load, "gunicorn", "bare WSGI")
        found.append(
            f"**The app against a bare WSGI function.** {framework:.2f}×: Flask's request "
            "context, SQLAlchemy's session, pool checkout and ORM objects, and the access log "
            "cost this much per request over the same query."
        )
    if missed(results, "p99"):
        found.append(
            f"**p99 at {load['connections']} connections.** Two sync workers serve one "
            f"request each; the other {load['connections'] - 2} connections wait in the "
            "accept queue, so p50 is already about connections / (req/s) (Little's law), and "
            "p99 adds the scheduling noise of two cores shared with wrk and the database. "
            "What would reach it: less CPU per request, or more cores."
        )
    return found


def suite_note(results: dict) -> list[str]:
    tiers = {tier["tier"]: tier for tier in results.get("suite", [])}
    found = []
    if missed(results, "fast tier"):
        found.append(
            f"**Fast tier.** {fmt(tiers[FAST]['seconds'], 0)} s: most of it is baking the "
            "template again and again (each bake renders and hooks run in a new process), "
            "and re-locking or linting each bake. What would reach it: bake each "
            "combination once per run and share it between the tests, and run the tests "
            "in parallel on more cores."
        )
    if missed(results, "every tier"):
        found.append(
            "**Every tier.** The end-to-end tier starts a fresh Compose stack (a database "
            "initialised from empty) for each scenario, one after the other on two cores. "
            "What would reach it: scenarios that share a stack where they do not change "
            "it, and stacks in parallel on a larger machine."
        )
    return found
