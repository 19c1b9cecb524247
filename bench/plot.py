"""Draw docs/coldstart.png: what a client polling during each cold start saw."""

from __future__ import annotations

from pathlib import Path

from coldstart import APPROACHES, DATABASES
from common import median
from figures import by_approach

OUTCOME_STYLE = {
    "refused": ("#9e9e9e", "no answer (nothing listening)"),
    "failed": ("#d62728", "failed (error answer)"),
    "good": ("#2ca02c", "good (200)"),
}


def representative(runs: list[dict]) -> dict:
    """Return the run whose first 200 is closest to the median."""
    middle = median(r["first_good"] for r in runs)
    return min(runs, key=lambda r: abs(r["first_good"] - middle))


def plot(results: dict, path: Path) -> None:
    """Draw each database's and approach's polling client: one dot per request, by outcome,
    over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = {
        (database, approach): runs
        for database in DATABASES
        for approach, runs in by_approach(results, database).items()
        if runs
    }
    height = 1.5 + 1.3 * len(groups)  # inches
    figure, axes = plt.subplots(len(groups), 1, figsize=(10, height), sharex=True,
                                squeeze=False)  # fmt: skip
    for axis, ((database, approach), runs) in zip(axes[:, 0], groups.items(), strict=True):
        run = representative(runs)
        for outcome, (color, label) in OUTCOME_STYLE.items():
            times = [t for t, o in run["samples"] if o == outcome]
            axis.scatter(times, [0] * len(times), s=40, marker="|", color=color, label=label)
        if run["db_tcp"] is not None:
            axis.axvline(run["db_tcp"], color="#1f77b4", linestyle="--", linewidth=1,
                         label="db accepts TCP")  # fmt: skip
        axis.set_yticks([])
        axis.set_title(
            f"{DATABASES[database][1]}, {APPROACHES[approach]}: first 200 at "
            f"{run['first_good']:.1f} s, {run['failed']} failed, {run['refused']} unanswered",
            fontsize=9, loc="left",
        )  # fmt: skip
    axes[-1, 0].set_xlabel("seconds since `up` was issued (one mark per request, every 100 ms)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
    figure.suptitle("Cold start: what a client polling GET /api/items sees", fontsize=11)
    figure.tight_layout(rect=(0, 0.6 / height, 1, 1))  # the legend's strip: 0.6 inch
    figure.savefig(path, dpi=110)
    plt.close(figure)
