"""Render docs/benchmarks.md and the targets table from bench/figures.py's summary."""

from __future__ import annotations

import math
from pathlib import Path

import jinja2
from figures import Target

TEMPLATES = Path(__file__).resolve().parent / "templates"


def num(value, digits: int = 1) -> str:
    """Format a number, or a dash for a missing one."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def pct(value) -> str:
    return num(value) if value is None else f"{value:.0%}"


def verdict(met: bool | None) -> str:
    return "n/a" if met is None else ("**met**" if met else "**not met**")


def targets_table(targets: list[Target]) -> str:
    rows = [f"| {t.label} | {t.figure} | {verdict(t.met)} |" for t in targets]
    return "\n".join(["| target | figure | |", "|---|---|---|", *rows])


def markdown(summary: dict) -> str:
    """Render docs/benchmarks.md from templates/benchmarks.md.j2."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # Markdown, not HTML
    )
    environment.filters.update(num=num, pct=pct)
    template = environment.get_template("benchmarks.md.j2")
    return template.render(**summary, targets_table=targets_table(summary["targets"]))
