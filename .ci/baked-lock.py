#!/usr/bin/env python3
"""Re-lock the baked project: bake the defaults, `uv lock` there, template the name back.

The baked uv.lock is the same for every answer but the project's own name,
so it is kept as one rendered file, {{cookiecutter.project}}/uv.lock.
Run by `make baked-lock` (args go to `uv lock`, e.g. --upgrade); the tests
check the result with `uv lock --check` on bakes of several answers.
"""

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TEMPLATE_LOCK = REPO / "{{cookiecutter.project}}" / "uv.lock"
PROJECT = "flask-app"
# uv writes the normalised name; '_' and '-' are the separators a project may hold.
NAME_LINE = f'name = "{PROJECT}"'
TEMPLATED_LINE = "name = \"{{ cookiecutter.project | replace('_', '-') }}\""


def main(uv_args: list[str]) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        cookiecutter = shutil.which("cookiecutter") or "cookiecutter"
        subprocess.run(
            [cookiecutter, "--no-input", "-o", tmp, str(REPO), f"project={PROJECT}"], check=True
        )
        bake = Path(tmp) / PROJECT
        subprocess.run(["uv", "lock", *uv_args], cwd=bake, check=True)
        text = (bake / "uv.lock").read_text()
    # Anything Jinja would read in the lock must not be there, or it would be rendered.
    for marker in ("{{", "{%", "{#"):
        if marker in text:
            print(f"ERROR: the lock holds {marker!r}: Jinja would render it", file=sys.stderr)
            return 1
    if text.count(NAME_LINE) != 1:
        print(f"ERROR: expected one {NAME_LINE!r} in the lock", file=sys.stderr)
        return 1
    TEMPLATE_LOCK.write_text(text.replace(NAME_LINE, TEMPLATED_LINE))
    print(f"wrote {TEMPLATE_LOCK.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
