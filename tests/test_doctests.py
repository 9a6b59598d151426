"""Runs the ``>>>`` examples in jaxdl's docstrings, so that they cannot rot.

Every module of the package except ``jaxdl.data.*`` (whose examples need datasets).
"""

from __future__ import annotations

import doctest
import importlib
import io
import pkgutil

import pytest

import jaxdl

MODULES = ["jaxdl"] + sorted(
    info.name for info in pkgutil.walk_packages(jaxdl.__path__, prefix="jaxdl.")
    if not (info.name == "jaxdl.data" or info.name.startswith("jaxdl.data."))
)
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _find(module_name):
    # import_module, not getattr: ``jaxdl.summary`` the attribute is the function
    module = importlib.import_module(module_name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    return finder.find(module, module_name, globs={"__name__": module_name, **vars(module)})


def _run(module_name):
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    out = io.StringIO()
    for test in _find(module_name):
        runner.run(test, out=out.write)
    return runner.summarize(verbose=False), out.getvalue()


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples(module_name):
    results, report = _run(module_name)
    assert results.failed == 0, report


def test_examples_exist():
    # the examples the docs promise: a silently skipped module would show here
    # (test_docstring_examples runs them; here they are only counted)
    with_examples = {name for name in MODULES
                     if sum(len(test.examples) for test in _find(name)) > 0}
    assert {"jaxdl.core", "jaxdl.activations", "jaxdl.losses", "jaxdl.metrics",
            "jaxdl.training.steps", "jaxdl.training.fit", "jaxdl.training.callbacks",
            "jaxdl.combinators", "jaxdl.perceptron", "jaxdl.summary",
            "jaxdl.layers.dense"} <= with_examples
    assert "jaxdl.data" not in MODULES and "jaxdl.core" in MODULES
