"""`make debug`: an editor attaches over the Debug Adapter Protocol, stops at a
breakpoint in a request, reads the frame, and lets the request finish.

The client below is the protocol itself (Content-Length framed JSON over
TCP), what VS Code sends when it attaches: no editor is needed to prove it.
"""

import json
import socket
import threading

from harness.httpclient import request
from harness.stack import free_port, wait_until

BREAKPOINT_SOURCE = "current = database_revisions()"


class ConnectionClosed(Exception):
    pass


class DapClient:
    """A Debug Adapter Protocol client: requests, their responses, events."""

    def __init__(self, port: int, timeout: float = 180):
        self.port = port
        self.buffer = b""
        self.seq = 0
        self.messages: list[dict] = []
        self.socket = None
        # Docker's proxy accepts on the published port before debugpy listens
        # (the entrypoint waits and migrates first), then drops the
        # connection: retry until the adapter answers `initialize`.
        wait_until(self.initialize, timeout, 0.5, "the debug adapter to answer initialize")

    def initialize(self) -> bool:
        """Connect and send `initialize`; False (and closed) when the adapter is not there yet."""
        try:
            self.socket = socket.create_connection(("127.0.0.1", self.port), timeout=60)
            self.request("initialize", adapterID="debugpy", pathFormat="path",
                         linesStartAt1=True, columnsStartAt1=True)  # fmt: skip
            return True
        except (OSError, ConnectionClosed):
            self.close()
            return False

    def close(self) -> None:
        if self.socket is not None:
            self.socket.close()
            self.buffer = b""

    def send(self, command: str, **arguments) -> int:
        self.seq += 1
        body = json.dumps({"seq": self.seq, "type": "request", "command": command,
                           "arguments": arguments}).encode()  # fmt: skip
        self.socket.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        return self.seq

    def read(self) -> dict:
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self.recv()
        header, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        length = int(header.split(b"Content-Length:")[1].split(b"\r\n")[0])
        while len(self.buffer) < length:
            self.buffer += self.recv()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return json.loads(body)

    def recv(self) -> bytes:
        data = self.socket.recv(65536)
        if not data:
            raise ConnectionClosed("the debug adapter closed the connection")
        return data

    def wait_for(self, predicate) -> dict:
        """The first message (already read or next) that predicate accepts."""
        for message in self.messages:
            if predicate(message):
                self.messages.remove(message)
                return message
        while True:
            message = self.read()
            if predicate(message):
                return message
            self.messages.append(message)

    def event(self, name: str) -> dict:
        return self.wait_for(lambda m: m["type"] == "event" and m["event"] == name)

    def request(self, command: str, **arguments) -> dict:
        seq = self.send(command, **arguments)
        response = self.wait_for(lambda m: m["type"] == "response" and m["request_seq"] == seq)
        assert response["success"], response
        return response


def test_an_editor_attaches_and_stops_at_a_breakpoint_in_a_request(make_stack):
    stack = make_stack(initialised=True)
    debug_port = free_port()
    stack.settings["DEBUG_PORT"] = str(debug_port)
    source = stack.path / "flask_app" / "health.py"
    line = source.read_text().splitlines().index(f"        {BREAKPOINT_SOURCE}") + 1
    stack.make("debug")

    dap = DapClient(debug_port)
    try:
        attach_and_stop_at_a_breakpoint(dap, stack, line)
    finally:
        dap.close()
    published = stack.compose("port", "web", "5678").stdout.strip()
    assert published == f"127.0.0.1:{debug_port}", published


def attach_and_stop_at_a_breakpoint(dap: DapClient, stack, line: int) -> None:
    attach = dap.send("attach", justMyCode=True)
    dap.event("initialized")
    breakpoints = dap.request(
        "setBreakpoints", source={"path": "/app/flask_app/health.py"}, breakpoints=[{"line": line}]
    )
    assert breakpoints["body"]["breakpoints"][0]["verified"], breakpoints
    dap.request("configurationDone")
    dap.wait_for(lambda m: m["type"] == "response" and m["request_seq"] == attach)

    answer = {}
    client = threading.Thread(target=get_when_served, args=(stack.web_port, answer), daemon=True)
    client.start()
    stopped = dap.event("stopped")
    assert stopped["body"]["reason"] == "breakpoint", stopped
    frames = dap.request("stackTrace", threadId=stopped["body"]["threadId"])["body"]["stackFrames"]
    assert (frames[0]["name"], frames[0]["line"]) == ("health", line), frames[0]
    assert frames[0]["source"]["path"] == "/app/flask_app/health.py"
    # Paused: the request waits on the breakpoint, not on a timeout.
    client.join(1)
    assert client.is_alive() and not answer
    dap.request("continue", threadId=stopped["body"]["threadId"])
    client.join(30)
    assert answer.get("status") == 200, answer
    dap.request("disconnect")


def get_when_served(port: int, answer: dict, timeout: float = 120) -> None:
    """GET /health once the server listens (it starts after the attach)."""

    def answered() -> bool:
        try:
            answer["status"] = request(port, "GET", "/health", timeout=60)[0]
            return True
        except OSError:  # nothing listens yet
            return False

    wait_until(answered, timeout, 0.5, "/health to answer")
