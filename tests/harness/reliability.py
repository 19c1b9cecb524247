"""Write docs/reliability.md from the figures an end-to-end run saved (`make reliability`).

The tier saves what its scenarios measured with --figures=PATH; this command
turns a complete set into the document, and refuses an incomplete one: a
run that skipped or lost a group would publish a partial page.

    python -m harness.reliability FIGURES.json docs/reliability.md
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

# Every group the tier measures; the document is written only with all of them.
GROUPS = {
    "replicas", "startup failures", "failed migration", "database restart",
    "graceful stop", "backup", "secrets and exposure", "bad input", "doctor",
    "authentication", "restore", "faults", "swarm",
}  # fmt: skip


def command_output(*args: str) -> str:
    return subprocess.run(args, capture_output=True, text=True).stdout.strip()


def servers_run(images: dict[str, str]) -> str:
    """Say what the figures ran on: engine, Compose, database servers."""
    engine = command_output("docker", "version", "--format", "{{.Server.Version}}")
    compose = command_output("docker", "compose", "version", "--short")
    servers = [
        command_output("docker", "run", "--rm", "--entrypoint", binary, images[key], "--version")
        for key, binary in (("MYSQL_IMAGE", "mysqld"), ("MARIADB_IMAGE", "mariadbd"))
        if key in images
    ]
    on = "; ".join(servers) if servers else "the official images"
    return f"Docker Engine {engine}, Compose {compose}; database servers: {on}"


def document(groups: dict[str, dict], images: dict[str, str]) -> str:
    lines = [
        "# Reliability figures",
        "",
        "Written by `make reliability` from a full, green end-to-end run; each",
        "figure comes from a test that asserts the behaviour around it.",
        f"Times are wall times on this machine ({os.cpu_count()} cores): read them",
        "as orders of magnitude.",
        "",
        f"Run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, on {servers_run(images)}.",
        "",
        "| scenario | figure | value |",
        "|---|---|---|",
    ]
    for scenario, values in groups.items():
        for name, value in values.items():
            lines.append(f"| {scenario} | {name} | {value} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m harness.reliability FIGURES.json DOC.md", file=sys.stderr)
        return 2
    saved = json.loads(Path(argv[0]).read_text())
    missing = sorted(GROUPS - set(saved["groups"]))
    if missing:
        print(f"ERROR: no figures for {', '.join(missing)}: run the whole tier", file=sys.stderr)
        return 1
    Path(argv[1]).write_text(document(saved["groups"], saved["images"]))
    print(f"wrote {argv[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
