"""Model summaries and parameter counts."""

from __future__ import annotations

import math
from typing import Any

import jax

from jaxdl.core import Array, Layer, Params, abstract_init, unique_names

__all__ = ["summary", "count_params"]


def _is_bias(path: tuple[Any, ...]) -> bool:
    last = path[-1] if path else None
    return isinstance(last, jax.tree_util.DictKey) and last.key in ("b", "bias")


def count_params(params: Params, *, include_bias: bool = True) -> int:
    """Number of scalars in a parameter pytree (arrays or ``ShapeDtypeStruct``s).

    Args:
      params: the parameter pytree.
      include_bias: count leaves named ``"b"``/``"bias"`` too (False: weights only).
    """
    leaves = jax.tree_util.tree_flatten_with_path(params)[0]
    return sum(math.prod(leaf.shape) for path, leaf in leaves
               if include_bias or not _is_bias(path))


def _format_shape(shape: Any) -> str:
    if isinstance(shape, tuple) and all(d is None or isinstance(d, int) for d in shape):
        return "(" + ", ".join(["batch", *("time" if d is None else str(d) for d in shape)]) + ")"
    if isinstance(shape, (tuple, list)):
        return "(" + ", ".join(_format_shape(s) for s in shape) + ")"
    return str(shape)


def _rows(layer: Layer, name: str, input_shape: Any, depth: int,
          rows: list[tuple[str, str, Any, int | None]]) -> Any:
    indent = "  " * max(depth - 1, 0)
    described = layer.label or layer.name  # user-written layers may have no label
    if layer.combinator == "serial" and depth < 8:
        if depth > 0:  # a nested serial: a heading row, its layers indented below
            heading = len(rows)
            rows.append((indent + name, described, None, None))
        shape = input_shape
        for child, child_name in zip(layer.children, unique_names(layer.children)):
            shape = _rows(child, child_name, shape, depth + 1, rows)
        if depth > 0:
            rows[heading] = (indent + name, described, shape, None)
        return shape
    out, params, _ = abstract_init(layer, input_shape)
    rows.append((indent + name, described, out, count_params(params)))
    return out


def summary(model: Layer, input_shape: Any, *, key: Array | None = None) -> str:
    """A table of the model's layers with output shape and parameter count.

    Nothing is allocated: shapes come from ``jax.eval_shape`` over ``init``. Each row
    gives the layer's name (its key in the params dict), its description, output shape
    and parameter count. Serial models are expanded one row per layer (a nested serial
    gets a heading row with its name and output shape, its layers indented below); the
    footer gives the total, split into weights (every leaf not named ``"b"``/``"bias"``)
    and biases.

    Args:
      model: a layer or model.
      input_shape: the per-example input shape (no batch axis).
      key: unused except to seed the abstract ``init`` (default ``key(0)``).

    Returns:
      The table as a string (``print`` it).

    Example (the course's 64x64x3 image, hidden layers of 1000 and 500 units, 2 outputs):
      >>> import jaxdl
      >>> m = jaxdl.serial(jaxdl.Flatten(), jaxdl.Dense(1000), jaxdl.Relu(),
      ...                  jaxdl.Dense(500), jaxdl.Relu(), jaxdl.Dense(2))
      >>> print(jaxdl.summary(m, (64, 64, 3)).splitlines()[-1])
      Total params: 12,790,502 (weights 12,789,000, biases 1,502)
    """
    del key
    rows: list[tuple[str, str, Any, int | None]] = []
    _rows(model, model.name, input_shape, 0, rows)
    _, params, _ = abstract_init(model, input_shape)
    total, weights = count_params(params), count_params(params, include_bias=False)
    header = ("Name", "Layer", "Output shape", "Params")
    body = [(name, label, _format_shape(out), "" if n is None else f"{n:,}")
            for name, label, out, n in rows]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(4)]
    line = "-" * (sum(widths) + 6)

    def fmt(r: tuple[str, str, str, str]) -> str:
        return (f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  "
                f"{r[3]:>{widths[3]}}")

    out_lines = [f"Input shape: {_format_shape(input_shape)}", line, fmt(header), line,
                 *[fmt(r) for r in body], line,
                 f"Total params: {total:,} (weights {weights:,}, biases {total - weights:,})"]
    return "\n".join(out_lines)
