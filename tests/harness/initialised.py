"""Databases initialised once per run (per worker under pytest-xdist), copied
into the volumes of scenarios.

A first init (the server's --initialize, the first-boot users, the init
scripts) costs seconds that only the scenarios about it need to spend. The
others start the way a stack starts after `make down` with its volume kept:
on a data directory that an earlier first init wrote, with the .env secrets
it was written with. The copy goes into the volume Compose creates itself
(`compose run` of the db service), so the volume has Compose's labels and
Compose adopts it without a warning.
"""

from __future__ import annotations

import hashlib
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
    """One first init per seed key and run; a copy of it for each stack that asks."""

    def __init__(self, workdir: Path, prefix: str):
        self.workdir = workdir
        self.prefix = prefix
        self.seeds: dict[tuple, tuple[Stack, dict[str, str]]] = {}

    def copy_into(self, stack: Stack) -> None:
        """Fill stack's db volume with an initialised data directory, and its .env
        with the secrets that directory's users were created with."""
        seed, secrets = self.seed_for(stack)
        for name, value in secrets.items():
            set_env(stack.path, name, value)
        stack.compose(
            "run", "--rm", "--no-deps", "--volume", f"{seed.name}_{VOLUME}:/seed:ro",
            "--entrypoint", "sh", "db", "-c", COPY,
        )  # fmt: skip

    def seed_for(self, stack: Stack) -> tuple[Stack, dict[str, str]]:
        key = seed_key(stack)
        if key not in self.seeds:
            self.seeds[key] = self.initialise(stack)
        return self.seeds[key]

    def initialise(self, stack: Stack) -> tuple[Stack, dict[str, str]]:
        """Run a first init in a stack of its own, from a copy of this bake; stop it cleanly."""
        number = len(self.seeds)
        path = self.workdir / f"seed{number}" / stack.path.name
        shutil.copytree(stack.path, path, symlinks=True)
        seed = Stack(path, f"{self.prefix}seed{number}", stack.images, production=True)
        seed.compose("up", "--detach", "--wait", "db")
        # A clean shutdown, as `make down` does: the copies start without recovery.
        seed.compose("stop", "db")
        env = env_values(path / ".env")
        return seed, {name: env[name] for name in SECRETS}

    def remove(self) -> None:
        for seed, _ in self.seeds.values():
            seed.down()
