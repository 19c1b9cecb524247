"""What a stack costs while nobody uses it: CPU over a quiet minute (the
healthchecks included) and the memory each service holds, for the
development stack (`make up`) and the production file alone."""

from __future__ import annotations

import time
from pathlib import Path

from common import cpu_seconds, log, memory_mb, new_stack

MODES = {"development": (), "production": ("docker-compose.yml",)}
SETTLE_SECONDS = 10  # the first-start work (InnoDB's purge, imports) out of the window


def idle(project: Path, images_: dict[str, str], seconds: int) -> dict:
    """Measure each mode on a fresh stack: CPU % of one core, and MB per service."""
    results = {}
    for mode, files in MODES.items():
        stack = new_stack(project, images_, files)
        try:
            log(f"idle: {mode} stack, {seconds} s quiet")
            stack.compose("up", "--detach", "--build", "--wait", "--wait-timeout", "300",
                          timeout=1200)  # fmt: skip
            time.sleep(SETTLE_SECONDS)
            ids = {service: stack.container_id(service) for service in ("db", "web")}
            before = {service: cpu_seconds(id_) for service, id_ in ids.items()}
            started = time.monotonic()
            time.sleep(seconds)
            elapsed = time.monotonic() - started
            results[mode] = {
                "seconds": round(elapsed, 1),
                **{f"cpu_{service}_percent": 100 * (cpu_seconds(id_) - before[service]) / elapsed
                   for service, id_ in ids.items()},
                **{f"memory_{service}_mb": memory_mb(id_) for service, id_ in ids.items()},
            }  # fmt: skip
        finally:
            stack.down()
    return results
