"""Gunicorn settings, read from the environment (see .env.example)."""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "1"))
# Below the container's stop_grace_period (30 s), so in-flight requests finish
# before Docker would send SIGKILL.
graceful_timeout = int(os.environ.get("GRACEFUL_TIMEOUT", "20"))
timeout = int(os.environ.get("WORKER_TIMEOUT", "30"))
# Heartbeat files in memory: a slow disk must not look like a hung worker.
# /dev/shm is memory in every container runtime, and writable on a read-only
# root filesystem (docker-compose.yml, deploy/kubernetes); /tmp is memory only
# where a tmpfs is mounted on it.
worker_tmp_dir = "/dev/shm"
accesslog = "-"
errorlog = "-"
