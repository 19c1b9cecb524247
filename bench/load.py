"""Throughput and latency on loopback of the API's read, three servers side by side.

gunicorn as configured (the image's CMD), `flask run` (the seeds' server) and
a bare WSGI function answering the same query (bench/bare_wsgi.py) under the
same gunicorn settings: the first ratio is what the server choice buys, the
second what the framework costs. Each server's container memory is read while
it is loaded: gunicorn's is the production web container's, workers included.
CPU per request (the server's container and the database's, from their
cgroups) says where the time goes, steadier than req/s on a shared machine.
"""

from __future__ import annotations

import http.client
import json
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

from common import (
    BENCH,
    JSON,
    cpu_seconds,
    free_port,
    get,
    log,
    memory_mb,
    new_stack,
    request,
    wait_until,
)

# A browser-sized crowd: enough to keep both workers busy, few enough that
# latency measures serving, not waiting in the accept queue.
CONNECTIONS = 8
PATH = "/api/items"
SERVERS = ("gunicorn", "flask run", "bare WSGI")
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def milliseconds(text: str) -> float:
    """Turn wrk's '12.34ms' (or us, s) into milliseconds."""
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(number) * UNITS[unit]


def wrk(port: int, path: str, seconds: float) -> dict:
    """Load one URL with wrk; return req/s, p50 and p99 in ms, and non-200 answers."""
    output = subprocess.run(
        ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds:g}s", "--latency",
         f"http://127.0.0.1:{port}{path}"],
        capture_output=True, text=True, check=True, timeout=seconds + 60,
    ).stdout  # fmt: skip
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", output, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50": milliseconds(percentiles["50"]),
        "p99": milliseconds(percentiles["99"]),
        "errors": int(errors.group(1)) if errors else 0,
    }


def python_load(port: int, path: str, seconds: float) -> dict:
    """The fallback without wrk: CONNECTIONS threads, each a keep-alive client."""
    latencies: list[float] = []
    errors = [0]
    deadline = time.monotonic() + seconds

    def client() -> None:
        connection = None
        while time.monotonic() < deadline:
            started = time.monotonic()
            try:
                connection = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                connection.request("GET", path)
                response = connection.getresponse()
                response.read()
                if response.will_close:  # gunicorn's sync workers close every connection
                    connection.close()
                    connection = None
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                connection, ok = None, False
            if ok:
                latencies.append((time.monotonic() - started) * 1000)
            else:
                errors[0] += 1

    threads = [threading.Thread(target=client) for _ in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies.sort()
    count = len(latencies) or 1
    return {
        "rps": len(latencies) / seconds,
        "p50": latencies[count // 2] if latencies else float("nan"),
        "p99": latencies[min(count - 1, int(count * 0.99))] if latencies else float("nan"),
        "errors": errors[0],
    }


def generator() -> tuple[str, object]:
    """Pick wrk when installed, else the Python load generator."""
    return ("wrk", wrk) if shutil.which("wrk") else ("python threads", python_load)


def one_off(stack, name: str, port: int, command: list[str], *options: str) -> None:
    """Run the web image as an extra server on port, on the stack's database, unmigrated."""
    stack.compose(
        "run", "--detach", "--no-deps", "--name", name, "-p", f"127.0.0.1:{port}:8000",
        "-e", "SKIP_MIGRATIONS=1", *options, "web", *command,
    )  # fmt: skip


def loaded(loader, container: str, database: str, port: int, seconds: float) -> dict:
    """Load one server; read its container's memory (docker stats) halfway through,
    once: more reads would take CPU from the server being measured. The CPU the
    server's container and the database's used, per request served."""
    memory: dict[str, float] = {}
    reader = threading.Timer(seconds / 2, lambda: memory.update(mb=memory_mb(container)))
    before = cpu_seconds(container), cpu_seconds(database)
    reader.start()
    try:
        figures = loader(port, PATH, seconds)
    finally:
        reader.cancel()  # a load that failed early: no read
        reader.join()
    after = cpu_seconds(container), cpu_seconds(database)
    requests = max(1.0, figures["rps"] * seconds)
    server_ms, database_ms = ((a - b) * 1000 / requests for a, b in zip(after, before, strict=True))
    return {**figures, "memory_mb": memory.get("mb"),
            "server_cpu_ms": server_ms, "db_cpu_ms": database_ms}  # fmt: skip


def container_id(name: str) -> str:
    """A container's full id, which its cgroup is named after."""
    return subprocess.run(
        ["docker", "inspect", "--format", "{{.Id}}", name],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip


def start_servers(stack) -> dict[str, tuple[str | None, int]]:
    """Start flask run and the bare WSGI function beside gunicorn; return name, port of each."""
    flask_port, bare_port = free_port(), free_port()
    flask_name, bare_name = f"{stack.name}-flaskrun", f"{stack.name}-bare"
    one_off(stack, flask_name, flask_port, ["flask", "run", "--host", "0.0.0.0", "--port", "8000"])
    one_off(
        stack, bare_name, bare_port,
        ["gunicorn", "--config", "/app/gunicorn.conf.py", "bare_wsgi:application"],
        "-v", f"{BENCH / 'bare_wsgi.py'}:/bench/bare_wsgi.py:ro", "-e", "PYTHONPATH=/bench",
    )  # fmt: skip
    return {
        "gunicorn": (None, stack.web_port),
        "flask run": (flask_name, flask_port),
        "bare WSGI": (bare_name, bare_port),
    }


def load(project: Path, images: dict[str, str], runs: int, seconds: float) -> dict:
    """Load the API read on the three servers, alternating, runs times each."""
    name, loader = generator()
    stack = new_stack(project, images, ("docker-compose.yml",))
    servers: dict[str, tuple[str | None, int]] = {}
    try:
        log("load: production stack (gunicorn), flask run and a bare WSGI function")
        stack.compose("up", "--detach", "--build", timeout=600)
        ready = lambda port: get(port, PATH)[0] == 200  # noqa: E731
        wait_until(lambda: ready(stack.web_port), 240, 0.2, "gunicorn serving")
        for number in range(10):
            body = f'{{"name": "item {number}"}}'.encode()
            request(stack.web_port, "POST", PATH, body, JSON)
        servers = start_servers(stack)
        for server, (_, port) in servers.items():
            wait_until(lambda port=port: ready(port), 120, 0.2, f"{server} serving")
        answers = [json.loads(get(port, PATH)[1]) for _, port in servers.values()]
        if any(answer != answers[0] for answer in answers):
            raise RuntimeError(f"the servers answer {PATH} differently: {answers}")
        for _, port in servers.values():
            loader(port, PATH, 2)  # warm-up: imports, pools, first connections
        # gunicorn is the stack's own web container; the others are named one-offs.
        containers = {server: container_id(name) if name else stack.container_id("web")
                      for server, (name, _) in servers.items()}  # fmt: skip
        database = stack.container_id("db")
        results: dict[str, list[dict]] = {server: [] for server in servers}
        for run in range(runs):
            for server, (_, port) in servers.items():
                results[server].append(loaded(loader, containers[server], database, port, seconds))
                figures = results[server][-1]
                log(f"load {server} {run + 1}/{runs}: {figures['rps']:.0f} req/s, "
                    f"{figures['server_cpu_ms']:.2f} ms CPU per request, "
                    f"{figures['memory_mb'] or float('nan'):.0f} MB")  # fmt: skip
        return {"generator": name, "seconds": seconds, "connections": CONNECTIONS,
                "path": PATH, "runs": results}  # fmt: skip
    finally:
        names = [name for name, _ in servers.values() if name]
        if names:
            subprocess.run(["docker", "rm", "-f", *names], capture_output=True)
        stack.down()
