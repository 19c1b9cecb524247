"""Benchmark a baked project on this machine; print the table, write docs/benchmarks.md.

Usage: PYTHONPATH=tests bench/.venv/bin/python bench/run.py [--quick] [--only STAGE,...] [--no-e2e]
(`make bench` does this after installing what it needs). See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import coldstart
import figures
import idle as idle_measures
import images as image_measures
import installers as installer_measures
import load as load_measures
import plot
import report
import suite as suite_measures
from common import PROJECT, REPO, bake, images, images_for, log, template_commit

STAGES = ("coldstart", "dev", "builds", "sizes", "installers", "idle", "load", "suite")
RESULTS = REPO / "bench" / "out" / "results.json"
DOC = REPO / "docs" / "benchmarks.md"
PNG = REPO / "docs" / "coldstart.png"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one run of each, shorter loads")
    parser.add_argument("--runs", type=int, help="runs per measure (default 3, --quick 1)")
    parser.add_argument("--only", help=f"comma-separated stages of {','.join(STAGES)}; "
                        "the others keep their figures from the last run")  # fmt: skip
    parser.add_argument("--no-e2e", action="store_true", help="skip the end-to-end test tier")
    parser.add_argument("--report-only", action="store_true", help=f"re-render {RESULTS.name}")
    return parser.parse_args(argv)


def server_version(image: str | None, binary: str) -> str | None:
    """Ask a database image's server for its version (None: no such image given)."""
    if image is None:
        return None
    return subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", binary, image, "--version"],
        capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip


def machine(images_: dict[str, str], quick: bool) -> dict:
    """Describe the machine the figures come from."""
    engine = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True
    ).stdout.strip()
    compose = subprocess.run(
        ["docker", "compose", "version", "--short"], capture_output=True, text=True
    ).stdout.strip()
    memory_kib = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "cores": os.cpu_count(),
        "memory_gib": memory_kib / 2**20,
        "engine": engine,
        "compose": compose,
        "python_image": images_["PYTHON_IMAGE"],
        "mysql_image": images_["MYSQL_IMAGE"],
        "mysql_server": server_version(images_["MYSQL_IMAGE"], "mysqld"),
        # None without MARIADB_IMAGE: the MariaDB bake's own pin (images_for).
        "mariadb_image": images_.get("MARIADB_IMAGE"),
        "mariadb_server": server_version(images_.get("MARIADB_IMAGE"), "mariadbd"),
        "commit": template_commit(),
        "quick": quick,
    }


def cold_bakes(work: Path, default: Path, images_: dict[str, str]) -> dict:
    """Return each database's bake and images for the cold starts (database -> both).

    MySQL's is the development stage's bake (the default answers); each other
    database gets its own project name, so its images never replace that one's."""
    answer, _ = coldstart.DATABASES[coldstart.DEFAULT_DATABASE]
    bakes = {coldstart.DEFAULT_DATABASE: (default, images_for(images_, answer))}
    for database, (answer, _) in coldstart.DATABASES.items():
        if database in bakes:
            continue
        project = bake(work / database, project=f"{PROJECT}-{database}", database=answer)
        bakes[database] = (project, images_for(images_, answer))
        log(f"building the {database} bake's development image once")
        coldstart.new_stack(*bakes[database]).compose("build", timeout=1200)
    return bakes


def measure(
    stages: list[str], runs: int, quick: bool, include_e2e: bool, results: dict, kept: dict
) -> None:
    """Run the chosen stages, each on a fresh bake, filling results as they finish;
    kept: the last run's results (the suite keeps its CI run of the other machine state)."""
    if set(stages) - {"suite"}:
        measure_stacks(stages, runs, quick, results)
    if "suite" in stages:
        results["suite"] = suite_measures.suite(include_e2e, kept.get("suite"))


def measure_stacks(stages: list[str], runs: int, quick: bool, results: dict) -> None:
    """The stages that run a bake's stacks: they need the engine and the images.
    (The suite alone needs neither: its CI run installs and builds what it needs,
    which is how it measures a machine holding nothing.)"""
    images_ = images()
    results["machine"] = machine(images_, quick)
    with tempfile.TemporaryDirectory(prefix="bench-") as workdir:
        work = Path(workdir)
        if {"coldstart", "dev"} & set(stages):
            project = bake(work / "dev")
            log("building the development image once (cold starts reuse it)")
            coldstart.new_stack(project, images_).compose("build", timeout=1200)
            if "coldstart" in stages:
                bakes = cold_bakes(work, project, images_)
                # Its targets are medians of 5 runs.
                cold_runs = runs if quick else max(runs, 5)
                results["coldstart"] = coldstart.cold_starts(bakes, cold_runs)
            if "dev" in stages:
                results["dev"] = coldstart.dev_loop(project, images_, runs)
        if {"builds", "sizes"} & set(stages):
            project = bake(work / "images")
            if "builds" in stages:
                results["builds"] = image_measures.builds(project, images_, runs)
            if "sizes" in stages:
                coldstart.new_stack(project, images_, ("docker-compose.yml",)).compose(
                    "build", "web", timeout=1200
                )
                results["sizes"] = image_measures.sizes(project, images_)
        if "installers" in stages:
            project = bake(work / "installers")
            results["installers"] = installer_measures.installers(project, images_, runs)
        if "idle" in stages:
            project = bake(work / "idle")
            results["idle"] = idle_measures.idle(project, images_, 20 if quick else 60)
        if "load" in stages:
            seconds = 5 if quick else 10
            project = bake(work / "load")
            results["load"] = load_measures.load(project, images_, runs, seconds)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    runs = args.runs or (1 if args.quick else 3)
    kept = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results: dict = {}
    stages = list(STAGES)
    if args.only or args.report_only:
        results = dict(kept)
        stages = [] if args.report_only else args.only.split(",")
    unknown = set(stages) - set(STAGES)
    if unknown:
        sys.exit(f"unknown stage(s): {', '.join(sorted(unknown))}")
    started = time.monotonic()
    try:
        measure(stages, runs, args.quick, not args.no_e2e, results, kept)
    finally:
        # Keep what finished even when a later stage fails, and the last
        # suite's figures when this run did not reach its own (they hold the
        # CI run of the other machine state).
        if "suite" not in results and "suite" in kept:
            results["suite"] = kept["suite"]
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=1))
    if "machine" not in results:
        # A suite-only run on a machine holding nothing: no stack stage has
        # described the engine and images yet.
        log(f"kept the suite's figures in {RESULTS.relative_to(REPO)}; docs/benchmarks.md "
            "needs the other stages too: `make bench` writes it and keeps this CI run")  # fmt: skip
        return 0
    DOC.parent.mkdir(exist_ok=True)
    summary = figures.summarize(results)
    if summary["coldstart"]:
        plot.plot(results, PNG)
    DOC.write_text(report.markdown(summary))
    print(report.targets_table(summary["targets"]))
    log(f"wrote {DOC.relative_to(REPO)} in {(time.monotonic() - started) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
