"""The app as development serves it (gunicorn.conf.py names it when APP_ENV=development).

A saved mistake that stops the package from importing must not stop the
server, as it would in production (gunicorn halts when a worker cannot load
its app): the worker answers every request with a 500 saying so, the
traceback is in the log (`make logs`), and the next save reloads.
"""

import json
import traceback

try:
    from {{ cookiecutter.package }} import create_app

    app = create_app()
except Exception:
    failure = traceback.format_exc()
    print(failure, flush=True)
    body = json.dumps(
        {
            "error": "Internal Server Error",
            "message": "the app failed to load: "
            + failure.strip().splitlines()[-1]
            + " (traceback: make logs)",
        }
    ).encode()

    def app(environ, start_response):
        start_response("500 Internal Server Error", [("Content-Type", "application/json")])
        return [body]
