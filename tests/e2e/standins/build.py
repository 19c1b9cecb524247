#!/usr/bin/env python3
"""Build local stand-ins for the python and mysql images, without a registry.

`ensure_images()` returns the image names to use as PYTHON_IMAGE and
MYSQL_IMAGE, building only what is missing. Each tag is a hash of that
image's inputs (package list, import settings, the files of db/), so a warm
run only runs `docker image inspect`. Run as a script, it prints
`PYTHON_IMAGE=...` and `MYSQL_IMAGE=...` lines for `eval`.

See README.md in this folder for what the stand-ins honour.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
DB_CONTEXT = HERE / "db"
SUITE = "trixie"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
LOCK_FILE = Path(tempfile.gettempdir()) / "e2e-standins.lock"
# Bump when the rootfs recipe below changes in a way the hashed inputs miss.
RECIPE_VERSION = "1"

PYTHON_PACKAGES = ("python3", "python3-venv", "python-is-python3", "ca-certificates", "passwd")
DB_PACKAGES = ("mariadb-server", "mariadb-client")
SLIM_GLOBS = (
    "var/cache/apt/archives/*.deb",
    "var/lib/apt/lists/*",
    "usr/share/doc/*",
    "usr/share/man/*",
)

_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_CA = str(HOST_CA_BUNDLE)
# pip upgraded inside a venv uses its own certifi, which lacks the host's
# intercepting CA: point every TLS client at the copied bundle.
PYTHON_CHANGES = (
    f"ENV PATH={_PATH}",
    "ENV LANG=C.UTF-8",
    f"ENV SSL_CERT_FILE={_CA}",
    f"ENV PIP_CERT={_CA}",
    f"ENV REQUESTS_CA_BUNDLE={_CA}",
    "LABEL e2e.standin=python",
    'CMD ["python3"]',
)
DB_BASE_CHANGES = (
    f"ENV PATH={_PATH}",
    "ENV LANG=C.UTF-8",
    "LABEL e2e.standin=mariadb-base",
    'CMD ["bash"]',
)


class StandinError(RuntimeError):
    """A stand-in image could not be built."""


def digest(*parts: bytes | str) -> str:
    """Return a short hash of the parts, each length-prefixed."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "big") + data)
    return h.hexdigest()[:16]


def python_image() -> str:
    """Name the python stand-in after its packages, settings and CA bundle."""
    # The CA bundle is baked in; a new intercepting CA must mean a new image.
    ca = HOST_CA_BUNDLE.read_bytes() if HOST_CA_BUNDLE.exists() else b""
    tag = digest(RECIPE_VERSION, SUITE, *PYTHON_PACKAGES, *PYTHON_CHANGES, ca)
    return f"e2e-standin-python:{SUITE}-{tag}"


def db_base_image() -> str:
    """Name the MariaDB rootfs base after its packages and settings."""
    tag = digest(RECIPE_VERSION, SUITE, *DB_PACKAGES, *DB_BASE_CHANGES)
    return f"e2e-standin-mariadb-base:{SUITE}-{tag}"


def db_image(base: str) -> str:
    """Name the db stand-in after its base and every file of its build context."""
    files = sorted(p for p in DB_CONTEXT.rglob("*") if p.is_file())
    parts = [base] + [x for p in files for x in (str(p.relative_to(DB_CONTEXT)), p.read_bytes())]
    return f"e2e-standin-mysql:{SUITE}-{digest(*parts)}"


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run a command, raising StandinError with its output if it fails."""
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-3000:]
        raise StandinError(f"{' '.join(cmd[:3])} ... failed ({proc.returncode}):\n{tail}")
    return proc


def image_exists(name: str) -> bool:
    """Tell whether the engine already has this image."""
    proc = subprocess.run(["docker", "image", "inspect", name], capture_output=True)
    return proc.returncode == 0


def require_tool(name: str, hint: str) -> None:
    """Fail with a hint when a command is not on PATH."""
    if shutil.which(name) is None:
        raise StandinError(f"`{name}` not found on PATH: {hint}")


def require_docker() -> None:
    """Fail clearly unless a Docker engine answers."""
    require_tool("docker", "run .ci/docker-up.sh (installs and starts Docker)")
    proc = subprocess.run(["docker", "info"], capture_output=True, text=True)
    if proc.returncode != 0:
        hint = "is dockerd running? (.ci/docker-up.sh starts it)"
        raise StandinError(f"`docker info` failed; {hint}\n{proc.stderr[-1000:]}")


def debian_mirror() -> str:
    """Return the Debian mirror the host's apt uses (reachable), or deb.debian.org."""
    if os.environ.get("STANDIN_DEBIAN_MIRROR"):
        return os.environ["STANDIN_DEBIAN_MIRROR"]
    sources = [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*")]
    pattern = re.compile(r"^(?:URIs:|deb)\s+(\S+/debian)/?\s*$|^deb\s+(\S+/debian)/?\s", re.M)
    for path in sources:
        if path.suffix not in {".list", ".sources"} or not path.is_file():
            continue
        for match in pattern.finditer(path.read_text(errors="replace")):
            return match.group(1) or match.group(2)
    return "http://deb.debian.org/debian"


def unmount_below(root: Path) -> None:
    """Unmount whatever a failed debootstrap left mounted inside root."""
    # rmtree through a still-mounted /proc or /sys would fail or do harm.
    mounts = Path("/proc/self/mounts").read_text().splitlines()
    points = [m.split()[1].encode().decode("unicode_escape") for m in mounts]
    for point in sorted((p for p in points if p.startswith(f"{root}/")), reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)


@contextlib.contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    """Yield a temporary directory, removed afterwards even if mounts remain."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("STANDIN_TMPDIR", "/var/tmp")))
    try:
        yield path
    finally:
        unmount_below(path)
        shutil.rmtree(path, ignore_errors=True)


def debootstrap(rootfs: Path, packages: tuple[str, ...]) -> None:
    """Install a minimal trixie with the packages into rootfs."""
    include = f"--include={','.join(packages)}"
    run(["debootstrap", "--variant=minbase", include, SUITE, str(rootfs), debian_mirror()])


def slim_rootfs(rootfs: Path) -> None:
    """Drop package caches, lists and docs, as the official slim images do."""
    for pattern in SLIM_GLOBS:
        for path in rootfs.glob(pattern):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()


def prepare_python_rootfs(rootfs: Path) -> None:
    """Trust the host's CA bundle so pip inside builds gets through TLS interception."""
    target = rootfs / "etc/ssl/certs/ca-certificates.crt"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(HOST_CA_BUNDLE, target)


def prepare_db_rootfs(rootfs: Path) -> None:
    """Empty the data dir the package's postinst initialised."""
    # The entrypoint must see an empty volume, or it would never run first init.
    datadir = rootfs / "var/lib/mysql"
    for path in datadir.iterdir():
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def docker_import(rootfs: Path, name: str, changes: tuple[str, ...]) -> None:
    """Turn a rootfs directory into an image, streaming it through tar."""
    change_args = [arg for c in changes for arg in ("--change", c)]
    tar_cmd = ["tar", "--numeric-owner", "-C", str(rootfs), "-cf", "-", "."]
    tar = subprocess.Popen(tar_cmd, stdout=subprocess.PIPE)
    try:
        run(["docker", "import", *change_args, "-", name], stdin=tar.stdout)
    finally:
        tar.stdout.close()
        if tar.wait() != 0:
            raise StandinError(f"tar of {rootfs} failed")


def build_rootfs_image(name: str, packages: tuple[str, ...], changes: tuple[str, ...], prepare):
    """Debootstrap, prepare and import one base image."""
    with scratch_dir("standin-rootfs-") as rootfs:
        debootstrap(rootfs, packages)
        slim_rootfs(rootfs)
        prepare(rootfs)
        docker_import(rootfs, name, changes)
    return name


def build_db_image(base: str, name: str) -> None:
    """Add the entrypoint and config on top of the MariaDB base."""
    args = ["--build-arg", f"BASE={base}", "--label", "e2e.standin=mysql", "-t", name]
    run(["docker", "build", "-q", *args, str(DB_CONTEXT)])


@contextlib.contextmanager
def build_lock() -> Iterator[None]:
    """Serialise builds between processes (e.g. pytest-xdist workers)."""
    with open(LOCK_FILE, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def ensure_images() -> dict[str, str]:
    """Build the missing stand-in images and return their names."""
    require_docker()
    py, base = python_image(), db_base_image()
    db = db_image(base)
    with build_lock():
        jobs = []
        if not image_exists(py):
            jobs.append((py, PYTHON_PACKAGES, PYTHON_CHANGES, prepare_python_rootfs))
        # The db layer is cheap; its rootfs base is only needed to rebuild it.
        if not image_exists(db) and not image_exists(base):
            jobs.append((base, DB_PACKAGES, DB_BASE_CHANGES, prepare_db_rootfs))
        if jobs:
            require_tool("debootstrap", "apt-get install debootstrap (or run .ci/docker-up.sh)")
            # Two debootstraps side by side halve the cold build time.
            with concurrent.futures.ThreadPoolExecutor(max_workers=len(jobs)) as pool:
                for future in [pool.submit(build_rootfs_image, *job) for job in jobs]:
                    future.result()
        if not image_exists(db):
            build_db_image(base, db)
    return {"PYTHON_IMAGE": py, "MYSQL_IMAGE": db}


def main() -> int:
    """Print the image names as shell assignments, building them if needed."""
    try:
        images = ensure_images()
    except StandinError as exc:
        print(f"build.py: {exc}", file=sys.stderr)
        return 1
    for key, value in images.items():
        print(f"{key}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
