"""Error reports (Sentry) and traces (OpenTelemetry), each off until configured.

Each library is imported here, and only when its variables are set: an app
without them loads neither, and pays nothing for either at start or per
request (`make bench` in the template measures what they would add).
"""

import os
import tomllib

from flask import Flask, g, has_request_context

from .config import PROJECT_ROOT

PROJECT = "{{ cookiecutter.project }}"

# What an error report leaves out (sentry-sdk's data_collection): anything
# that may name or locate a person. The user and their address, cookies,
# headers (X-Forwarded-For is an address), query strings and bodies, query
# parameters and the frames' local variables. The traceback, the route, the
# release and the request id stay. Turn on what your reports need.
NO_PERSONAL_DATA = {
    "user_info": False,
    "cookies": {"mode": "off"},
    "http_headers": {"request": {"mode": "off"}},
    "url_query_params": {"mode": "off"},
    "http_bodies": [],
    "database_query_data": False,
    "stack_frame_variables": False,
}


def init_app(app: Flask, env=os.environ) -> None:
    """Start what the environment configures (before the extensions make their engines)."""
    if env.get("SENTRY_DSN"):
        start_sentry(app, env)
    if tracing_configured(env):
        start_tracing(app, env)


def release() -> str:
    """This code's release: the project's name and version, from pyproject.toml."""
    with (PROJECT_ROOT / "pyproject.toml").open("rb") as file:
        return f"{PROJECT}@{tomllib.load(file)['project']['version']}"


def add_request_id(event: dict, hint: dict) -> dict:
    """Tag an error report with the request's id, the one its log lines and 5xx body carry."""
    if has_request_context() and "request_id" in g:
        event.setdefault("tags", {})["request_id"] = g.request_id
    return event


def start_sentry(app: Flask, env) -> None:
    import sentry_sdk
    from sentry_sdk.integrations.flask import FlaskIntegration

    sentry_sdk.init(
        dsn=env["SENTRY_DSN"],
        release=env.get("SENTRY_RELEASE") or release(),
        environment=env.get("SENTRY_ENVIRONMENT") or app.config["ENVIRONMENT"],
        integrations=[FlaskIntegration()],
        before_send=add_request_id,
        data_collection=NO_PERSONAL_DATA,
    )


def tracing_configured(env) -> bool:
    """The standard variables: an OTLP endpoint, and the SDK not disabled."""
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    return bool(endpoint) and env.get("OTEL_SDK_DISABLED", "").lower() != "true"


def start_tracing(app: Flask, env) -> None:
    """Trace requests (Flask), queries (SQLAlchemy) and the driver (PyMySQL), to OTLP/HTTP.

    The exporter and the batch processor read the other OTEL_* variables
    themselves (headers, timeouts, batching). The provider is made once per
    process, before the server forks (the processor restarts its thread in
    each worker); every app made later is instrumented on it.
    """
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.flask import FlaskInstrumentor
    from opentelemetry.instrumentation.pymysql import PyMySQLInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        service = {"service.name": env.get("OTEL_SERVICE_NAME") or PROJECT}
        provider = TracerProvider(resource=Resource.create(service))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(provider)
    # The SQLAlchemy instrumentation declares SQLAlchemy < 2.1 and would skip
    # itself quietly on this project's 2.1; it works on 2.1 (tests/test_telemetry.py
    # checks its spans), so its check is skipped. A conflict of the driver's
    # instrumentation raises instead of passing unnoticed.
    for instrumentor, check in (
        (SQLAlchemyInstrumentor(), {"skip_dep_check": True}),
        (PyMySQLInstrumentor(), {"raise_exception_on_conflict": True}),
    ):
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument(**check)
    FlaskInstrumentor.instrument_app(app)
