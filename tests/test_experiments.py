"""The experiments reach their headline figures (in-process), and their CLIs end with RESULT."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", autouse=True)
def _private_data_dir(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Prepared datasets go to a temporary folder, not the user's ~/tensorflow_datasets."""
    old = os.environ.get("JAXDL_DATA_DIR")
    os.environ["JAXDL_DATA_DIR"] = str(tmp_path_factory.mktemp("data"))
    yield
    if old is None:
        os.environ.pop("JAXDL_DATA_DIR", None)
    else:
        os.environ["JAXDL_DATA_DIR"] = old


def test_backprop_example_reproduces_the_course(tmp_path: Path) -> None:
    from experiments import backprop_example

    r = backprop_example.run(steps=10, out=tmp_path)
    assert f"{r['e_total']:.9f}" == "0.298371109"
    assert f"{r['de_dw5']:.9f}" == "0.082167041"
    assert f"{r['w5_updated']:.8f}" == "0.35891648"
    assert f"{r['de_dout_o1']:.8f}" == "0.74136507"
    assert f"{r['dout_o1_dnet_o1']:.9f}" == "0.186815602"
    assert f"{r['dnet_o1_dw5']:.9f}" == "0.593269992"
    assert Path(r["plot"]).is_file()


def test_logic_gates() -> None:
    from experiments import logic_gates

    r = logic_gates.run(epochs=300)
    assert r["perceptron_and_accuracy"] == 1.0
    assert r["perceptron_or_accuracy"] == 1.0
    assert r["perceptron_xor_accuracy"] <= 0.75  # a single perceptron cannot separate XOR
    assert not r["perceptron_xor_converged"]
    assert r["mlp_xor_accuracy"] == 1.0
    assert r["fixed_and_accuracy"] == 1.0 and r["fixed_or_accuracy"] == 1.0


def test_iris_mlp_reaches_its_figure() -> None:
    from experiments import iris_mlp

    r = iris_mlp.run(seed=0)
    assert r["test_accuracy"] >= 0.93, r["test_accuracy"]


def test_digits_mlp_reaches_its_figure() -> None:
    from experiments import digits_mlp

    r = digits_mlp.run(seed=0)
    assert r["test_accuracy"] >= 0.95, r["test_accuracy"]
    assert r["epochs_run"] <= 100


@pytest.mark.slow
@pytest.mark.parametrize("name", ["backprop_example", "logic_gates", "iris_mlp", "digits_mlp"])
def test_cli_ends_with_result_line(name: str, tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p))
    proc = subprocess.run([sys.executable, "-m", f"experiments.{name}", "--out", str(tmp_path)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert re.fullmatch(rf"RESULT name={name}( [a-z0-9_]+=\S+)+", last), last
    assert list(tmp_path.glob("*.png")), "no plot saved"
