"""Throughput and latency on loopback: gunicorn as configured against `flask run`."""

from __future__ import annotations

import http.client
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

from common import free_port, get, log, new_stack, post_json, wait_until

CONNECTIONS = 32
PATHS = ("/health", "/api/items")
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


def flask_run(stack, port: int, name: str) -> None:
    """Start `flask run` (the seeds' server) from the same image, on the same database."""
    stack.compose(
        "run", "--detach", "--no-deps", "--name", name, "-p", f"127.0.0.1:{port}:8000",
        "-e", "SKIP_MIGRATIONS=1", "web", "flask", "run", "--host", "0.0.0.0", "--port", "8000",
    )  # fmt: skip


def load(project: Path, images: dict[str, str], runs: int, seconds: float) -> dict:
    """Load /health and an API read on both servers, alternating, runs times each."""
    name, loader = generator()
    stack = new_stack(project, images, ("docker-compose.yml",))
    flask_port, flask_name = free_port(), f"{stack.name}-flaskrun"
    try:
        log("load: production stack (gunicorn) and flask run from the same image")
        stack.compose("up", "--detach", "--build", timeout=600)
        ready = lambda port: get(port, "/health")[0] == 200  # noqa: E731
        wait_until(lambda: ready(stack.web_port), 240, 0.2, "gunicorn healthy")
        for number in range(10):
            post_json(stack.web_port, "/api/items", f'{{"name": "item {number}"}}'.encode())
        flask_run(stack, flask_port, flask_name)
        wait_until(lambda: ready(flask_port), 120, 0.2, "flask run healthy")
        servers = {"gunicorn": stack.web_port, "flask run": flask_port}
        results = {server: {path: [] for path in PATHS} for server in servers}
        for path in PATHS:
            for port in servers.values():
                loader(port, path, 2)  # warm-up: imports, pools, first connections
            for run in range(runs):
                for server, port in servers.items():
                    results[server][path].append(loader(port, path, seconds))
                    figure = results[server][path][-1]
                    log(f"load {path} {server} {run + 1}/{runs}: {figure['rps']:.0f} req/s")
        return {"generator": name, "seconds": seconds, "runs": results}
    finally:
        subprocess.run(["docker", "rm", "-f", flask_name], capture_output=True)
        stack.down()
