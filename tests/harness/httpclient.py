"""HTTP to a stack's published port: one request, and a poller that records answers."""

from __future__ import annotations

import http.client
import threading
import time

# The outcomes of one GET, as the poller and the bench count them.
GOOD, FAILED, REFUSED = "good", "failed", "refused"
JSON = {"Content-Type": "application/json"}


def request(
    port: int, method: str, path: str, body: bytes | None = None,
    headers: dict[str, str] | None = None, timeout: float = 10, host: str = "127.0.0.1",
) -> tuple[int, bytes]:  # fmt: skip
    """Send one request to host:port (this machine's loopback by default);
    return (status, body).

    Raises OSError (or http.client.HTTPException) when nothing answers."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request(method, path, body, headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def get(port: int, path: str, timeout: float = 2.0) -> tuple[int | None, bytes]:
    """GET a path; return (status, body): status None when nothing answered, 0 when the
    connection was made but no answer came in time."""
    try:
        return request(port, "GET", path, timeout=timeout)
    except TimeoutError:
        return 0, b""
    except (OSError, http.client.HTTPException):
        return None, b""


def outcome(status: int | None) -> str:
    """good (200), failed (an error answer, or none in time), refused (nothing listening)."""
    if status is None:
        return REFUSED
    return GOOD if status == 200 else FAILED


class StatusPoller(threading.Thread):
    """GET a path every interval from t0 on, on a fixed schedule (a slow answer skips
    ticks instead of piling them up); record (seconds since t0, status)."""

    def __init__(self, port: int, path: str, t0: float | None = None, interval: float = 0.1,
                 timeout: float = 2.0):  # fmt: skip
        super().__init__(daemon=True)
        self.port, self.path, self.interval, self.timeout = port, path, interval, timeout
        self.t0 = time.monotonic() if t0 is None else t0
        self.samples: list[tuple[float, int | None]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        tick = 0
        while not self.halt.is_set():
            sent = time.monotonic() - self.t0
            self.samples.append((sent, get(self.port, self.path, self.timeout)[0]))
            tick = max(tick + 1, int((time.monotonic() - self.t0) / self.interval) + 1)
            self.halt.wait(max(0.0, self.t0 + tick * self.interval - time.monotonic()))

    def now(self) -> float:
        """Seconds since t0, the poller's clock."""
        return time.monotonic() - self.t0

    def statuses_since(self, moment: float) -> list[int | None]:
        return [status for sent, status in list(self.samples) if sent >= moment]

    def first(self, which: str | int, after: float = 0.0) -> float | None:
        """When the first request after `after` was sent whose outcome (a str) or
        status (an int) is `which`; None before there is one."""
        return next(
            (sent for sent, status in list(self.samples)
             if sent >= after and which in (status, outcome(status))),
            None,
        )  # fmt: skip

    def count(self, kind: str) -> int:
        return sum(1 for _, status in list(self.samples) if outcome(status) == kind)

    def outcomes(self) -> list[tuple[float, str]]:
        return [(sent, outcome(status)) for sent, status in list(self.samples)]

    def stop(self) -> None:
        self.halt.set()
        if self.is_alive():
            self.join(timeout=30)
