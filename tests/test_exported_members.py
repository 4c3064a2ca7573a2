"""The public API is declared once, sorted, and complete."""

import ast
import importlib
import inspect

import derivo


def test_all_is_sorted_and_complete() -> None:
    public = {name for name in dir(derivo) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(derivo, name)).__name__ == "module"}
    assert set(derivo.__all__) == public - modules
    assert derivo.__all__ == sorted(derivo.__all__, key=lambda n: (not n.isupper(), n))


def test_the_type_checkers_imports_are_the_lazy_names() -> None:
    # mypy reads the TYPE_CHECKING imports, the running package its lazy names: a name
    # missing from the imports would only be typed Any, which mypy does not report
    tree = ast.parse(inspect.getsource(derivo))
    block = next(
        node
        for node in tree.body
        if isinstance(node, ast.If) and ast.unparse(node.test) == "typing.TYPE_CHECKING"
    )
    typed = {
        alias.name: node.module
        for node in block.body
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("derivo.")
        for alias in node.names
    }
    assert set(typed) == set(derivo._LAZY)
    for name, module in typed.items():
        assert getattr(importlib.import_module(module), name) is getattr(derivo, name)
