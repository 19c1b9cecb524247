"""What a stack costs while nobody uses it: CPU over a quiet minute (the
healthchecks included) and the memory each service holds, for the
development stack (`make up`) and the production file alone."""

from __future__ import annotations

import time
from pathlib import Path

from common import log, memory_mb, new_stack

MODES = {"development": (), "production": ("docker-compose.yml",)}
SETTLE_SECONDS = 10  # the first-start work (InnoDB's purge, imports) out of the window


def cpu_seconds(container_id: str) -> float:
    """CPU time the container's processes have used, from its cgroup (v1 or v2)."""
    v1 = Path(f"/sys/fs/cgroup/cpuacct/docker/{container_id}/cpuacct.usage")
    if v1.exists():
        return int(v1.read_text()) / 1e9
    root = Path("/sys/fs/cgroup")
    # cgroup v2: the cgroupfs driver's path, then systemd's
    for group in (
        root / "docker" / container_id,
        root / "system.slice" / f"docker-{container_id}.scope",
    ):
        if (group / "cpu.stat").exists():
            usage = dict(line.split() for line in (group / "cpu.stat").read_text().splitlines())
            return int(usage["usage_usec"]) / 1e6
    raise RuntimeError(f"no cgroup CPU counter for container {container_id[:12]}")


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
