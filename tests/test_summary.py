"""Tests for jaxdl.summary: the layer table and parameter counts."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

import jaxdl

MODEL = jaxdl.serial(jaxdl.Flatten(), jaxdl.Dense(4), jaxdl.Relu(), jaxdl.Dense(2, name="head"))
# Flatten (2, 3) -> 6; Dense 6*4 + 4 = 28; Dense 4*2 + 2 = 10
# (name: the key in the params dict, layer: the label, output shape, params)
ROWS = [("flatten", "Flatten()", "(batch, 6)", "0"), ("dense", "Dense(4)", "(batch, 4)", "28"),
        ("relu", "Relu", "(batch, 4)", "0"), ("head", "Dense(2) 'head'", "(batch, 2)", "10")]


def _body(table):
    lines = table.splitlines()
    rules = [i for i, line in enumerate(lines) if line and set(line) == {"-"}]
    assert len(rules) == 3, table
    return lines, lines[rules[1] + 1: rules[2]]


def test_summary_table():
    table = jaxdl.summary(MODEL, (2, 3))
    lines, body = _body(table)
    assert lines[0] == "Input shape: (batch, 2, 3)"
    assert lines[2].split() == ["Name", "Layer", "Output", "shape", "Params"]
    assert len(body) == len(ROWS)
    for line, (name, label, shape, n) in zip(body, ROWS):
        assert line.split()[0] == name
        assert f"  {label}  " in line
        assert shape in line
        assert line.split()[-1] == n
    assert lines[-1] == "Total params: 38 (weights 32, biases 6)"
    # the names are the keys of the params dict (parameter-free layers have none)
    _, params, _ = MODEL.init(jax.random.key(0), (2, 3))
    assert list(params) == ["dense", "head"]


def test_summary_shows_time_for_none_axes():
    table = jaxdl.summary(jaxdl.serial(jaxdl.Dense(3), jaxdl.Tanh()), (None, 4))
    lines, body = _body(table)
    assert lines[0] == "Input shape: (batch, time, 4)"
    assert all("(batch, time, 3)" in line for line in body)


def test_summary_columns_are_aligned():
    lines, body = _body(jaxdl.summary(MODEL, (2, 3)))
    for column in ("Dense", "(batch"):  # the Layer and Output shape columns
        assert len({line.index(column) for line in body if column in line}) == 1
    assert len({len(line) for line in body}) == 1  # params right-aligned to one width


def test_summary_expands_nested_serial():
    block = jaxdl.serial(jaxdl.Dense(3), jaxdl.Tanh(), name="block")
    model = jaxdl.serial(block, jaxdl.Dense(1))
    _, body = _body(jaxdl.summary(model, (5,)))
    names = [line[: line.index("  ", len(line) - len(line.lstrip()))] for line in body]
    # a nested serial: a heading row with its name, its layers indented below
    assert names == ["block", "  dense", "  tanh", "dense"]
    assert "serial 'block'" in body[0] and "(batch, 3)" in body[0]
    assert jaxdl.summary(model, (5,)).splitlines()[-1] == "Total params: 22 (weights 18, biases 4)"


def test_summary_of_single_layer_and_parallel():
    table = jaxdl.summary(jaxdl.Dense(3), (4,))
    _, body = _body(table)
    assert len(body) == 1 and body[0].split()[:2] == ["dense", "Dense(3)"]
    assert "(batch, 3)" in body[0]
    assert table.splitlines()[-1] == "Total params: 15 (weights 12, biases 3)"
    par = jaxdl.serial(jaxdl.FanOut(2), jaxdl.parallel(jaxdl.Dense(2), jaxdl.Dense(3)),
                       jaxdl.FanInConcat())
    table = jaxdl.summary(par, (4,))
    _, body = _body(table)
    assert [line.split()[:2] for line in body] == [
        ["fan_out", "FanOut(2)"], ["parallel", "parallel"],
        ["fan_in_concat", "FanInConcat(axis=-1)"]]
    assert "((batch, 2), (batch, 3))" in body[1]
    assert table.splitlines()[-1] == "Total params: 25 (weights 20, biases 5)"


def test_summary_allocates_nothing():
    # 10^10 weights would need 40 GB; the summary only traces shapes
    model = jaxdl.serial(jaxdl.Dense(100_000), jaxdl.Dense(100_000))
    assert jaxdl.summary(model, (10,)).splitlines()[-1] == (
        "Total params: 10,001,200,000 (weights 10,001,000,000, biases 200,000)")


def test_count_params():
    _, params, _ = MODEL.init(jax.random.key(0), (2, 3))
    assert jaxdl.count_params(params) == 38
    assert jaxdl.count_params(params, include_bias=False) == 32
    _, abstract, _ = jaxdl.abstract_init(MODEL, (2, 3))
    assert jaxdl.count_params(abstract) == 38
    assert jaxdl.count_params({}) == 0
    assert jaxdl.count_params({"bias": jnp.zeros(3), "kernel": jnp.zeros((2, 3))},
                              include_bias=False) == 6


@pytest.mark.parametrize("use_bias, total", [(True, 15), (False, 12)])
def test_count_params_dense(use_bias, total):
    _, params, _ = jaxdl.Dense(3, use_bias=use_bias).init(jax.random.key(0), (4,))
    assert jaxdl.count_params(params) == total
    assert jaxdl.count_params(params, include_bias=False) == 12


def test_nested_serial_gets_a_heading_and_tuple_shapes_show_the_batch():
    block = jaxdl.serial(jaxdl.FanOut(2), jaxdl.parallel(jaxdl.Dense(8), jaxdl.Dense(8)),
                         jaxdl.FanInSum(), name="residual")
    text = jaxdl.summary(jaxdl.serial(jaxdl.Dense(8), block, jaxdl.Dense(2)), (4,))
    lines = text.splitlines()
    heading = next(line for line in lines if line.startswith("residual"))
    assert "serial 'residual'" in heading and "(batch, 8)" in heading
    assert any(line.startswith("  fan_out ") and "FanOut(2)" in line
               and "((batch, 8), (batch, 8))" in line for line in lines)
    # the outer Dense layers are dense and dense_1, as in the params dict
    assert [line.split()[0] for line in lines if "Dense(" in line] == ["dense", "dense_1"]
    assert lines[-1] == "Total params: 202 (weights 176, biases 26)"
