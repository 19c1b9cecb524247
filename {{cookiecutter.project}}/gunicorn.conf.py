"""Gunicorn, the server in production and in development (variables: .env.example).

The start, in the master, before the socket is bound (on_starting): import the
app, wait for the database and upgrade its schema (startup.py), then listen
and fork the workers. The master starts beside the database, not after its
healthcheck: the imports overlap the database's start, the schema is ready
the moment the database is, and nothing listens before, so a client never
sees a 5xx from a start.

Production preloads the app in the master: one import in all, shared by the
workers. Development (APP_ENV=development) reloads instead: the master keeps
the third-party libraries imported, and on every saved change under the
package it forks new workers, which import only the project's modules, and
stops the old ones gracefully (gunicorn's HUP).
"""

import logging.config
import os
import signal
import sys
import threading

from gunicorn.glogging import Logger

PACKAGE = "{{ cookiecutter.package }}"
DEVELOPMENT = os.environ.get("APP_ENV") == "development"

# Development serves the app through dev_wsgi.py: a saved mistake is answered
# with a 500 until the next save, instead of stopping the server.
wsgi_app = "dev_wsgi:app" if DEVELOPMENT else f"{PACKAGE}:create_app()"
bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
# Two processes of four threads (gthread), chosen by measurement (make bench):
# a thread serves while another waits on MySQL, connections are kept alive,
# and a slow client holds a thread, not a whole worker.
workers = int(os.environ.get("WEB_CONCURRENCY") or 2)
threads = int(os.environ.get("WEB_THREADS") or 4)
preload_app = not DEVELOPMENT
# Below the container's stop_grace_period (docker-compose.yml) and the pod's
# terminationGracePeriodSeconds (deploy/kubernetes), so in-flight requests
# finish before SIGKILL.
graceful_timeout = int(os.environ.get("GRACEFUL_TIMEOUT", "20"))
timeout = int(os.environ.get("WORKER_TIMEOUT", "30"))
# Heartbeat files in memory: a slow disk must not look like a hung worker.
# /dev/shm is memory in every container runtime, and writable on a read-only
# root filesystem (docker-compose.yml, deploy/kubernetes); /tmp is memory only
# where a tmpfs is mounted on it.
worker_tmp_dir = "/dev/shm"
errorlog = "-"
# gunicorn's control socket (for gunicornc) would go under $HOME, which is
# the read-only /app; nothing here uses it.
control_socket_disable = True


class ServerLogger(Logger):
    """gunicorn's logger in the app's format ({{ cookiecutter.package }}/logs.py):
    JSON lines in production, readable ones in development."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        from {{ cookiecutter.package }}.logs import config

        logging.config.dictConfig(config(json_lines=not DEVELOPMENT))
        if DEVELOPMENT:
            # Run again on every reload, in the master: the import above must
            # not leave the project's modules for the new workers to inherit.
            forget_project_modules()

    def access(self, resp, req, environ, request_time) -> None:
        """No access line from gunicorn: the app writes one per request, with its id."""


logger_class = ServerLogger


def on_starting(server):
    """Wait for the database and migrate, before the socket is bound."""
    from {{ cookiecutter.package }} import create_app, startup

    try:
        startup.prepare(create_app())
    except startup.DatabaseNotReady as error:
        error.show()
        sys.exit(1)
    if DEVELOPMENT:
        forget_project_modules()


def when_ready(server):
    if DEVELOPMENT:
        threading.Thread(target=reload_on_change, args=(server,), daemon=True).start()


def forget_project_modules():
    """Development: the workers must import the project's current source, not
    the master's copy; the third-party libraries stay imported."""
    for name in [name for name in sys.modules if name.partition(".")[0] == PACKAGE]:
        del sys.modules[name]


def reload_on_change(server):
    """Development: HUP the master when a Python file of the package is saved.

    watchfiles waits on the kernel's inotify events (no polling, nothing
    spent while idle) and batches an editor's burst of writes into one change.
    """
    try:
        from watchfiles import PythonFilter, watch
    except ImportError:  # the production image, run with APP_ENV=development
        server.log.warning("watchfiles is not installed: no reloading")
        return
    for changes in watch(os.path.join(os.getcwd(), PACKAGE), watch_filter=PythonFilter()):
        paths = ", ".join(sorted(os.path.relpath(path) for _, path in changes))
        server.log.info("Reloading: %s changed", paths)
        os.kill(server.pid, signal.SIGHUP)
