#!/usr/bin/env python3
"""Build local stand-ins for the python, mysql, mariadb and uv images, without a registry.

`ensure_images()` returns the names to use as PYTHON_IMAGE (python:3.x-slim),
MYSQL_IMAGE (mysql:8.4 / mysql:9.7: Debian sid's MySQL 9.7),
MARIADB_IMAGE (mariadb:11.8: Debian trixie's MariaDB 11.8) and UV_IMAGE
(ghcr.io/astral-sh/uv: the same uv release, taken from its PyPI wheel),
building only what is missing. Each tag is a hash of that image's inputs (suite, package
list, import settings, the files of db/), so a warm run only runs
`docker image inspect`. Run as a script, it prints `NAME=image` lines for
`eval`.

See README.md in this folder for what the stand-ins honour.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import fcntl
import hashlib
import io
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
DB_CONTEXT = HERE / "db"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# cookiecutter.json names the uv release the bakes use; the stand-in follows it.
COOKIECUTTER_JSON = HERE.parents[2] / "cookiecutter.json"
LOCK_FILE = Path(tempfile.gettempdir()) / "e2e-standins.lock"
# Bump when the rootfs recipe below changes in a way the hashed inputs miss.
RECIPE_VERSION = "2"

SLIM_GLOBS = (
    "var/cache/apt/archives/*.deb",
    "var/lib/apt/lists/*",
    "usr/share/doc/*",
    "usr/share/man/*",
)
_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_CA = str(HOST_CA_BUNDLE)


class StandinError(RuntimeError):
    """A stand-in image could not be built."""


def prepare_python_rootfs(rootfs: Path) -> None:
    """Trust the host's CA bundle so pip inside builds gets through TLS interception."""
    target = rootfs / "etc/ssl/certs/ca-certificates.crt"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(HOST_CA_BUNDLE, target)


def prepare_db_rootfs(rootfs: Path) -> None:
    """Empty the data dir the package's postinst initialised."""
    # The entrypoint must see an empty volume, or it would never run first init.
    for path in (rootfs / "var/lib/mysql").iterdir():
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


@dataclasses.dataclass(frozen=True)
class Rootfs:
    """A base image: debootstrap of one Debian suite, prepared, then `docker import`."""

    name: str
    suite: str
    packages: tuple[str, ...]
    changes: tuple[str, ...]
    prepare: Callable[[Path], None]

    def image(self) -> str:
        """Name the image after everything that goes into it."""
        # The CA bundle is baked into the python image: a new one means a new image.
        bakes_ca = self.name == "python" and HOST_CA_BUNDLE.exists()
        ca = HOST_CA_BUNDLE.read_bytes() if bakes_ca else b""
        tag = digest(RECIPE_VERSION, self.suite, *self.packages, *self.changes, ca)
        return f"e2e-standin-{self.name}:{self.suite}-{tag}"


PYTHON = Rootfs(
    name="python",
    suite="trixie",
    packages=("python3", "python3-venv", "python-is-python3", "ca-certificates", "passwd"),
    # pip upgraded inside a venv uses its own certifi, which lacks the host's
    # intercepting CA: point every TLS client at the copied bundle.
    changes=(
        f"ENV PATH={_PATH}",
        "ENV LANG=C.UTF-8",
        f"ENV SSL_CERT_FILE={_CA}",
        f"ENV PIP_CERT={_CA}",
        f"ENV REQUESTS_CA_BUNDLE={_CA}",
        "LABEL e2e.standin=python",
        'CMD ["python3"]',
    ),
    prepare=prepare_python_rootfs,
)
# No LANG: like the official database images, which set no locale.
MYSQL_BASE = Rootfs(
    name="mysql-base",
    suite="sid",
    packages=("mysql-server", "mysql-client"),
    changes=(f"ENV PATH={_PATH}", "LABEL e2e.standin=mysql-base", 'CMD ["bash"]'),
    prepare=prepare_db_rootfs,
)
MARIADB_BASE = Rootfs(
    name="mariadb-base",
    suite="trixie",
    packages=("mariadb-server", "mariadb-client"),
    changes=(f"ENV PATH={_PATH}", "LABEL e2e.standin=mariadb-base", 'CMD ["bash"]'),
    prepare=prepare_db_rootfs,
)
# The database stand-ins: the entrypoint of db/ on each server's rootfs.
DATABASES = {"MYSQL_IMAGE": MYSQL_BASE, "MARIADB_IMAGE": MARIADB_BASE}


def digest(*parts: bytes | str) -> str:
    """Return a short hash of the parts, each length-prefixed."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "big") + data)
    return h.hexdigest()[:16]


def uv_version() -> str:
    """Return the uv release the bakes pin (their Dockerfile's UV_IMAGE)."""
    return json.loads(COOKIECUTTER_JSON.read_text())["__uv_version"]


def uv_image() -> str:
    """Name the uv stand-in after its release and this machine's architecture."""
    return f"e2e-standin-uv:{uv_version()}-{digest(RECIPE_VERSION, platform.machine())}"


def db_image(base: Rootfs) -> str:
    """Name a db stand-in after its base and every file of its build context."""
    files = sorted(p for p in DB_CONTEXT.rglob("*") if p.is_file())
    contents = [x for p in files for x in (str(p.relative_to(DB_CONTEXT)), p.read_bytes())]
    parts = [base.image(), *contents]
    flavour = base.name.removesuffix("-base")
    return f"e2e-standin-{flavour}:{base.suite}-{digest(*parts)}"


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


def slim_rootfs(rootfs: Path) -> None:
    """Drop package caches, lists and docs, as the official slim images do."""
    for pattern in SLIM_GLOBS:
        for path in rootfs.glob(pattern):
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


def debootstrap(spec: Rootfs, rootfs: Path) -> None:
    """Install a minimal Debian suite with the spec's packages into rootfs."""
    include = f"--include={','.join(spec.packages)}"
    # First stage downloads and unpacks; the second configures, running the
    # packages' maintainer scripts. Those start servers (mysql-server's binds
    # port 3306, and backs off to 3307 for good if a host server holds it)
    # and look for other servers' processes (mariadb-server's preinst): so
    # the second stage gets network, process and mount namespaces of its own.
    run(["debootstrap", "--foreign", "--variant=minbase", include, spec.suite, str(rootfs),
         debian_mirror()])  # fmt: skip
    second_stage = (
        f"ip link set lo up && exec chroot {rootfs} /debootstrap/debootstrap --second-stage"
    )
    run(["unshare", "--net", "--pid", "--fork", "--mount", "sh", "-c", second_stage])


def build_rootfs_image(spec: Rootfs) -> None:
    """Debootstrap, prepare and import one base image."""
    with scratch_dir(f"standin-{spec.name}-") as rootfs:
        # It becomes `/`: mkdtemp's 0700 would lock out every user but root
        # (mysql-server's postinst runs mysqld as mysql).
        rootfs.chmod(0o755)
        debootstrap(spec, rootfs)
        slim_rootfs(rootfs)
        spec.prepare(rootfs)
        docker_import(rootfs, spec.image(), spec.changes)


def build_db_image(base: Rootfs) -> None:
    """Add the entrypoint and config of db/ on top of a server's rootfs."""
    tag = db_image(base)
    args = ["--build-arg", f"BASE={base.image()}", "--label", "e2e.standin=db", "-t", tag]
    run(["docker", "build", "-q", *args, str(DB_CONTEXT)])


def uv_wheel(version: str) -> tuple[str, str]:
    """Return the URL and sha256 of uv's static (musl) Linux wheel for this machine."""
    # musllinux: a static binary, like the one in the official image, runs on any base.
    # The simple API (PEP 691 JSON): what every index and mirror of PyPI serves.
    accept = {"Accept": "application/vnd.pypi.simple.v1+json"}
    request = urllib.request.Request("https://pypi.org/simple/uv/", headers=accept)
    with urllib.request.urlopen(request, timeout=60) as r:
        files = json.load(r)["files"]
    name = f"uv-{version}-py3-none-musllinux_1_1_{platform.machine()}.whl"
    for file in files:
        if file["filename"] == name:
            return file["url"], file["hashes"]["sha256"]
    raise StandinError(f"{name} is not on PyPI")


def build_uv_image() -> None:
    """Build the uv stand-in: /uv and /uvx in an empty image, as ghcr.io/astral-sh/uv has them."""
    url, sha256 = uv_wheel(uv_version())
    with urllib.request.urlopen(url, timeout=300) as r:
        wheel = r.read()
    if hashlib.sha256(wheel).hexdigest() != sha256:
        raise StandinError(f"{url}: sha256 differs from PyPI's")
    with scratch_dir("standin-uv-") as context, zipfile.ZipFile(io.BytesIO(wheel)) as archive:
        for name in ("uv", "uvx"):
            member = next(m for m in archive.namelist() if m.endswith(f".data/scripts/{name}"))
            (context / name).write_bytes(archive.read(member))
            (context / name).chmod(0o755)
        (context / "Dockerfile").write_text("FROM scratch\nCOPY uv uvx /\n")
        run(["docker", "build", "-q", "--label", "e2e.standin=uv", "-t", uv_image(), str(context)])


@contextlib.contextmanager
def build_lock() -> Iterator[None]:
    """Serialise builds between processes (e.g. pytest-xdist workers)."""
    with open(LOCK_FILE, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def image_names() -> dict[str, str]:
    """The stand-ins' names (tags hash their inputs), built or not."""
    return {"PYTHON_IMAGE": PYTHON.image(), "UV_IMAGE": uv_image()} | {
        key: db_image(base) for key, base in DATABASES.items()
    }


def ensure_images() -> dict[str, str]:
    """Build the missing stand-in images and return their names."""
    require_docker()
    images = image_names()
    with build_lock():
        # A db layer is cheap; its rootfs base is needed only to rebuild it.
        needed = [PYTHON] if not image_exists(PYTHON.image()) else []
        needed += [
            base
            for key, base in DATABASES.items()
            if not image_exists(images[key]) and not image_exists(base.image())
        ]
        if needed:
            require_tool("debootstrap", "apt-get install debootstrap (or run .ci/docker-up.sh)")
            # Debootstraps side by side: mostly downloads and dpkg, not CPU.
            with concurrent.futures.ThreadPoolExecutor(max_workers=len(needed)) as pool:
                for future in [pool.submit(build_rootfs_image, spec) for spec in needed]:
                    future.result()
        for key, base in DATABASES.items():
            if not image_exists(images[key]):
                build_db_image(base)
        if not image_exists(images["UV_IMAGE"]):
            build_uv_image()
    return images


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
