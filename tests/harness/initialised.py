"""Databases initialised once per run, copied into the volumes of scenarios.

A first init (the server's --initialize, the first-boot users, the init
scripts) costs seconds that only the scenarios about it need to spend. The
others start the way a stack starts after `make down` with its volume kept:
on a data directory that an earlier first init wrote, with the .env secrets
it was written with. The copy goes into the volume Compose creates itself
(`compose run` of the db service), so the volume has Compose's labels and
Compose adopts it without a warning. Under pytest-xdist the workers share
the run's seeds: the first worker to need one initialises it under a file
lock, and the others read its record (volume, secrets) once it is there.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
from pathlib import Path

from harness.bakery import env_values, load_compose, set_env
from harness.stack import Stack

# Written at first init and kept in the data directory: a copy needs them.
SECRETS = ("MYSQL_PASSWORD", "MYSQL_ROOT_PASSWORD")
VOLUME = "db-data"
# auto.cnf holds the server's UUID: without it each copy makes its own, as
# distinct servers have (GTIDs name their server by it).
COPY = "cp -a /seed/. /var/lib/mysql/ && rm -f /var/lib/mysql/auto.cnf"


def seed_key(stack: Stack) -> tuple:
    """What a first init depends on: the server image, the .env's names, the init scripts."""
    env = env_values(stack.path / ".env")
    scripts = sorted((stack.path / "docker" / "db-init").rglob("*"))
    digest = hashlib.sha256()
    for script in scripts:
        if script.is_file():
            digest.update(script.name.encode() + script.read_bytes())
    # The image Compose would run: the stack's MYSQL_IMAGE, else the file's default.
    image = stack.images.get("MYSQL_IMAGE", load_compose(stack.path)["services"]["db"]["image"])
    return image, env["MYSQL_DATABASE"], env["MYSQL_USER"], digest.hexdigest()


class InitialisedDatabases:
    """One first init per seed key and run; a copy of it for each stack that asks.

    shared: a folder every worker of the run sees (the seeds' records, locks
    and bakes); prefix: the run's stack-name prefix (conftest.py removes the
    seeds with the run's stacks)."""

    def __init__(self, shared: Path, prefix: str):
        self.shared = shared
        self.prefix = prefix
        self.seeds: dict[tuple, dict] = {}

    def copy_into(self, stack: Stack) -> None:
        """Fill stack's db volume with an initialised data directory, and its .env
        with the secrets that directory's users were created with."""
        seed = self.seed_for(stack)
        for name, value in seed["secrets"].items():
            set_env(stack.path, name, value)
        stack.compose(
            "run", "--rm", "--no-deps", "--volume", f"{seed['volume']}:/seed:ro",
            "--entrypoint", "sh", "db", "-c", COPY,
        )  # fmt: skip

    def seed_for(self, stack: Stack) -> dict:
        """The record of the run's seed for this stack: {"volume", "secrets"}."""
        key = seed_key(stack)
        if key not in self.seeds:
            digest = hashlib.sha256(repr(key).encode()).hexdigest()[:12]
            record = self.shared / f"{digest}.json"
            with (self.shared / f"{digest}.lock").open("w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
                if not record.exists():
                    record.write_text(json.dumps(self.initialise(stack, digest)))
            self.seeds[key] = json.loads(record.read_text())
        return self.seeds[key]

    def initialise(self, stack: Stack, digest: str) -> dict:
        """Run a first init in a stack of its own, from a copy of this bake; stop it cleanly."""
        path = self.shared / f"seed-{digest}" / stack.path.name
        shutil.copytree(stack.path, path, symlinks=True)
        seed = Stack(path, f"{self.prefix}seed{digest}", stack.images, production=True)
        seed.compose("up", "--detach", "--wait", "db")
        # A clean shutdown, as `make down` does: the copies start without recovery.
        seed.compose("stop", "db")
        env = env_values(path / ".env")
        return {"volume": f"{seed.name}_{VOLUME}", "secrets": {name: env[name] for name in SECRETS}}
