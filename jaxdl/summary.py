"""Model summaries and parameter counts."""

from __future__ import annotations

import math
from typing import Any

import jax

from jaxdl.core import Array, Layer, Params, abstract_init

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


def _rows(layer: Layer, input_shape: Any, depth: int, rows: list[tuple[str, Any, int, int]]
          ) -> Any:
    if layer.combinator == "serial" and depth < 8:
        shape = input_shape
        for child in layer.children:
            shape = _rows(child, shape, depth + 1, rows)
        return shape
    out, params, _ = abstract_init(layer, input_shape)
    rows.append(("  " * max(depth - 1, 0) + layer.name, out, count_params(params),
                 count_params(params, include_bias=False)))
    return out


def summary(model: Layer, input_shape: Any, *, key: Array | None = None) -> str:
    """A table of the model's layers with output shape and parameter count.

    Nothing is allocated: shapes come from ``jax.eval_shape`` over ``init``. Serial
    models are expanded one row per layer; the footer gives the total, split into
    weights and biases.

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
    rows: list[tuple[str, Any, int, int]] = []
    _rows(model, input_shape, 0, rows)
    total = sum(r[2] for r in rows)
    weights = sum(r[3] for r in rows)
    header = ("Layer", "Output shape", "Params")
    body = [(name, str(("batch", *out)) if isinstance(out, tuple) and all(
        isinstance(d, int) for d in out) else str(out), f"{n:,}") for name, out, n, _ in rows]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(3)]
    line = "-" * (sum(widths) + 4)

    def fmt(r: tuple[str, str, str]) -> str:
        return f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}"

    out_lines = [f"Input shape: {('batch', *input_shape)}" if isinstance(input_shape, tuple)
                 else f"Input shape: {input_shape}", line, fmt(header), line,
                 *[fmt(r) for r in body], line,
                 f"Total params: {total:,} (weights {weights:,}, biases {total - weights:,})"]
    return "\n".join(out_lines)
