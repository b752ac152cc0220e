"""The package's shape: short functions and classes, modules that use each other's public names
only, and a package map that matches the files."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import dbn

PACKAGE = Path(dbn.__file__).parent
MODULES = sorted(PACKAGE.glob("*.py"))
MAX_FUNCTION_BODY = 70
MAX_CLASS = 400


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from the first statement after the docstring to the end of the function."""
    body = node.body
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        body = body[1:] or body
    return node.end_lineno - body[0].lineno + 1


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_functions_and_classes_fit_on_a_screen(path):
    too_long = []
    for node in ast.walk(_tree(path)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _body_lines(node) > MAX_FUNCTION_BODY:
            too_long.append(f"{node.name}: {_body_lines(node)} lines of body")
        if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > MAX_CLASS:
            too_long.append(f"class {node.name}: {node.end_lineno - node.lineno + 1} lines")
    assert not too_long


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_modules_use_only_each_others_public_names(path):
    tree = _tree(path)
    aliases = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
        if alias.name.startswith("dbn")
    }
    aliases |= {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "dbn"
        for alias in node.names
    }
    private = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dbn"):
            private += [f"from {node.module} import {alias.name}" for alias in node.names if alias.name.startswith("_")]
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            private.append(f"{node.value.id}.{node.attr}")
    assert not private


def test_the_package_map_lists_every_module_once():
    mapped = re.findall(r":mod:`dbn\.(\w+)`", dbn.__doc__)
    files = sorted(path.stem for path in MODULES if not path.stem.startswith("__"))
    assert sorted(mapped) == files
