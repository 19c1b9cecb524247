#!/usr/bin/env python3
"""What Sentry and OpenTelemetry would add to a start, beside the app's own import.

The baked app imports neither while SENTRY_DSN and OTEL_EXPORTER_OTLP_ENDPOINT
are unset (telemetry.py), so this is their whole cost when off: zero, and
what switching each on adds. Each figure is the median of fresh interpreters:
the app (import the package, create_app), then in the same process the
modules telemetry.py imports for each, timed one after the other.

    python bench/telemetry_imports.py BAKE_DIR [PACKAGE]   # a bake, with a venv holding its deps

From bench/run.py: import_costs(bake, interpreter=[...]) returns the figures
(seconds), e.g. with interpreter=["docker", "run", "--rm", "--entrypoint",
"python", "-e", "APP_ENV=testing", image] to measure inside the built image.
"""

import json
import statistics
import subprocess
import sys
from pathlib import Path

PROBE = """
import json, os, sys, time
os.environ.update(APP_ENV="testing", SENTRY_DSN="", OTEL_EXPORTER_OTLP_ENDPOINT="")
t0 = time.perf_counter()
from {package} import create_app
create_app({{"SQLALCHEMY_DATABASE_URI": "sqlite://"}})
t1 = time.perf_counter()
loaded_when_off = [m for m in sys.modules if m.split(".")[0] in ("sentry_sdk", "opentelemetry")]
import sentry_sdk
from sentry_sdk.integrations.flask import FlaskIntegration
t2 = time.perf_counter()
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.instrumentation.pymysql import PyMySQLInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
t3 = time.perf_counter()
print(json.dumps({{"app": t1 - t0, "sentry": t2 - t1, "opentelemetry": t3 - t2,
                  "loaded_when_off": loaded_when_off}}))
"""


def import_costs(
    project: Path, package: str = "flask_app", interpreter=(sys.executable,), runs: int = 5,
    env: dict[str, str] | None = None,
) -> dict:  # fmt: skip
    """Median seconds: the app (import, create_app), then Sentry's and OpenTelemetry's imports."""
    samples = []
    for _ in range(runs):
        result = subprocess.run(
            [*interpreter, "-c", PROBE.format(package=package)],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        samples.append(json.loads(result.stdout.strip().splitlines()[-1]))
    figures = {
        name: statistics.median(sample[name] for sample in samples)
        for name in ("app", "sentry", "opentelemetry")
    }
    # Off must mean not imported: a figure for "off" that is not zero is a bug.
    figures["loaded_when_off"] = sorted({m for s in samples for m in s["loaded_when_off"]})
    return figures


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2) or not Path(argv[0]).is_dir():
        print("usage: telemetry_imports.py BAKE_DIR [PACKAGE]", file=sys.stderr)
        return 2
    figures = import_costs(Path(argv[0]), *argv[1:])
    for name in ("app", "sentry", "opentelemetry"):
        print(f"{name:14} {figures[name] * 1000:7.1f} ms")
    print(f"{'loaded when off':14} {', '.join(figures['loaded_when_off']) or 'nothing'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
