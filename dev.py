#!/usr/bin/env python3
"""jaxdl's two quick-start commands, each setting itself up.

    python3 dev.py main    # the main job: the digits MLP experiment on sklearn's bundled digits
    python3 dev.py test    # the default test suite (slow tests deselected)

Either one creates ``.venv`` beside this file on first use and installs jaxdl into it
(editable, with the ``test`` extra); it reinstalls only when ``pyproject.toml`` changes.
Extra arguments are passed through: ``python3 dev.py test -m slow`` runs the slow tests,
``python3 dev.py main --epochs 5`` shortens the experiment, and
``python3 dev.py run experiments.iris_mlp`` runs any experiment module.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".jaxdl-installed"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")


def _ensure_env() -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"jaxdl needs Python >= 3.11, this is {sys.version.split()[0]}")
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if PY.exists() and STAMP.exists() and STAMP.read_text().strip() == want:
        return
    if not PY.exists():
        print(f"[dev] creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("[dev] installing jaxdl[test] (first run, or pyproject.toml changed)", flush=True)
    subprocess.run([str(PY), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
    subprocess.run([str(PY), "-m", "pip", "install", "-q", "-e", f"{ROOT}[test]"], check=True)
    STAMP.write_text(want)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"main", "test", "run"}:
        print(__doc__)
        return 2
    cmd, rest = argv[0], argv[1:]
    _ensure_env()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if cmd == "main":
        args = [str(PY), "-m", "experiments.digits_mlp", *rest]
    elif cmd == "run":
        if not rest:
            print("usage: python3 dev.py run experiments.<name> [args]")
            return 2
        args = [str(PY), "-m", *rest]
    else:
        has_marker = any(a == "-m" or a.startswith("-m") for a in rest)
        args = [str(PY), "-m", "pytest", *([] if has_marker else ["-m", "not slow"]), *rest]
    return subprocess.call(args, cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
