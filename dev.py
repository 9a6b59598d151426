#!/usr/bin/env python3
"""jaxdl's two quick-start commands, each setting itself up.

    python3 dev.py main    # the main job: the digits MLP experiment on sklearn's bundled digits
    python3 dev.py test    # the default test suite (slow tests deselected)

Either one creates ``.venv`` beside this file on first use and installs jaxdl into it
(editable, with the ``test`` extra): 1.2 GB of packages, which took 73 s on a fresh
2-core machine with an empty pip cache (32 s with a warm one), with pip's progress shown. It reinstalls only when ``pyproject.toml`` changes;
later runs start at once. Extra arguments are passed through: ``python3 dev.py test -m
slow`` runs the slow tests, ``python3 dev.py main --epochs 5`` shortens the experiment, and
``python3 dev.py run experiments.iris_mlp`` runs any experiment module. ``test`` runs one
pytest-xdist worker per CPU core (at most 4; see :func:`parallel_args`); ``-n 0`` runs
one process.

The commands run with ``JAXDL_SOURCE_DIR`` set to ``../shared/data`` beside this checkout
when that folder exists and the variable is not set already: the raw dataset files
(Fashion-MNIST, MovieLens, rt-polarity) of this project's machines and CI. jaxdl itself
never guesses that folder.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".jaxdl-installed"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
SHARED_DATA = ROOT.parent / "shared" / "data"
MAIN_PACKAGES = "jax, optax, flax, tensorflow-datasets, scikit-learn, matplotlib, pytest"


def _ensure_env() -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"jaxdl needs Python >= 3.11, this is {sys.version.split()[0]}")
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if PY.exists() and STAMP.exists() and STAMP.read_text().strip() == want:
        return
    start = time.monotonic()
    if not PY.exists():
        print(f"[dev] creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("[dev] first run (or pyproject.toml changed): installing jaxdl[test] into .venv\n"
          f"[dev]   with {MAIN_PACKAGES} and their dependencies\n"
          "[dev]   1.2 GB; about 75 s on a fresh machine (about 30 s when pip has them "
          "cached); pip's progress follows", flush=True)
    print("[dev] 1/2 upgrading pip", flush=True)
    subprocess.run([str(PY), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
    print("[dev] 2/2 installing jaxdl[test] (editable) and its dependencies", flush=True)
    subprocess.run([str(PY), "-m", "pip", "install", "-e", f"{ROOT}[test]"], check=True)
    STAMP.write_text(want)
    print(f"[dev] installed in {time.monotonic() - start:.0f} s; later runs skip this step",
          flush=True)


def command_env() -> dict[str, str]:
    """The environment for the commands: the checkout on PYTHONPATH and, when the project's
    ``../shared/data`` folder exists, ``JAXDL_SOURCE_DIR`` naming it (unless already set)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if SHARED_DATA.is_dir() and not env.get("JAXDL_SOURCE_DIR"):
        env["JAXDL_SOURCE_DIR"] = str(SHARED_DATA)
    return env


MAX_WORKERS = 4  # each test process holds 1 to 4 GB; CI's 2 cores get 2


def parallel_args(rest: list[str]) -> list[str]:
    """pytest-xdist options for ``test``: one worker per CPU core (at most MAX_WORKERS),
    each test module kept on one worker (``--dist loadscope``: a module's fixtures, such
    as a small training run shared by its tests, are built once). Most of a test's time
    is XLA compilation, which uses one core, so two workers on two cores finish the
    default suite about 1.5 times sooner than one process. None when the caller chose
    (``-n``, ``--numprocesses``, ``-p no:xdist``), debugs (``--pdb``, ``--trace``: one
    process) or when there is one core."""
    chosen = any(a in ("-n", "--numprocesses", "no:xdist", "--pdb", "--trace")
                 or a.startswith(("-n", "--num")) for a in rest)
    workers = min(os.cpu_count() or 1, MAX_WORKERS)
    return [] if chosen or workers < 2 else ["-n", str(workers), "--dist", "loadscope"]


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"main", "test", "run"}:
        print(__doc__)
        return 2
    cmd, rest = argv[0], argv[1:]
    _ensure_env()
    env = command_env()
    if cmd == "main":
        args = [str(PY), "-m", "experiments.digits_mlp", *rest]
    elif cmd == "run":
        if not rest:
            print("usage: python3 dev.py run experiments.<name> [args]")
            return 2
        args = [str(PY), "-m", *rest]
    else:
        has_marker = any(a == "-m" or a.startswith("-m") for a in rest)
        args = [str(PY), "-m", "pytest", *([] if has_marker else ["-m", "not slow"]),
                *parallel_args(rest), *rest]
    return subprocess.call(args, cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
