"""Probes observe, ``verify`` judges: the rule that keeps grading honest.

A test's ``probe()`` runs in the student's process, after the student's code, so
nothing it computes can be trusted: a submission may have replaced builtins or
patched the objects the probe uses. A probe therefore only *observes*: it calls the
student's functions and returns their raw outputs (values, types, exceptions) as
plain data. Every comparison, every pass/fail decision and every expected value
lives in ``verify(observed)``, which runs on the grader's side only.

:func:`check_probe` enforces this when an exercise is loaded: a probe that compares
(``==``, ``<``, ``in``, ``is``), branches (``if``, ``x if c else y``, ``and``/``or``,
``not``, comprehension filters, ``while``), asserts, catches a specific exception
class, or calls a judging helper (``isinstance``, ``equals``, ``allclose``, ``all`` …)
is rejected with the line and the fix. To observe an exception, catch
``Exception`` and return :func:`raised` of it::

    def probe():
        try:
            rmse_usd([1.0], [])
        except Exception as exc:
            return raised(exc)      # {"raised": ["ValueError", ...], "message": "..."}
        return "no error"

    def verify(observed):
        assert "ValueError" in observed["raised"], "different lengths must raise ValueError"
"""

from __future__ import annotations

import ast
from typing import Any

from mlops_course.errors import ExerciseFormatError

MESSAGE_CHARS = 500

# calls whose result is a verdict rather than an observation
JUDGING_CALLS = frozenset({
    "isinstance", "issubclass", "hasattr", "callable", "all", "any", "bool",
    "equals", "allclose", "isclose", "array_equal", "array_equiv", "assert_frame_equal",
    "assert_series_equal", "assert_array_equal", "assert_allclose", "startswith",
    "endswith", "issuperset", "issubset", "isdisjoint", "__eq__", "__ne__", "__lt__",
    "__le__", "__gt__", "__ge__", "__contains__", "verify", "eval", "exec", "compile",
})
_JUDGING_NODES = {
    ast.Compare: "compares values",
    ast.BoolOp: "combines conditions with and/or",
    ast.IfExp: "chooses a value with `x if c else y`",
    ast.If: "branches with `if`",
    ast.While: "loops on a condition",
    ast.Assert: "asserts",
    ast.Match: "matches patterns",
    ast.Global: "declares a global",
    ast.Nonlocal: "declares a nonlocal",
}


def raised(exc: BaseException) -> dict[str, Any]:
    """Observe an exception as plain data: its class and base classes, and its message.

    Examples
    --------
    >>> raised(ValueError("lengths differ"))
    {'raised': ['ValueError', 'Exception', 'BaseException', 'object'], 'message': 'lengths differ'}
    """
    names = [getattr(cls, "__name__", "?") for cls in type(exc).__mro__]
    try:
        message = str(exc)
    except Exception:  # noqa: BLE001 - a student's exception whose __str__ raises
        message = "<the exception's message could not be read>"
    return {"raised": [str(n) for n in names][:20], "message": str(message)[:MESSAGE_CHARS]}


def check_probe(source: str, where: str) -> None:
    """Raise :class:`ExerciseFormatError` if ``probe()`` does more than observe.

    ``source`` is the ``def probe(): ...`` block; ``where`` names it in messages.
    """
    tree = ast.parse(source)
    for node in ast.walk(tree):
        line = getattr(node, "lineno", "?")
        problem = next((why for kind, why in _JUDGING_NODES.items() if isinstance(node, kind)),
                       None)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            problem = "negates with `not`"
        elif isinstance(node, ast.comprehension) and node.ifs:
            problem = "filters a comprehension with `if`"
        elif isinstance(node, ast.ExceptHandler) and not _catches_everything(node):
            problem = "catches a specific exception class (a verdict on the exception)"
        elif isinstance(node, ast.Call):
            name = (node.func.id if isinstance(node.func, ast.Name)
                    else node.func.attr if isinstance(node.func, ast.Attribute) else None)
            if name in JUDGING_CALLS:
                problem = f"calls {name}(), which judges instead of observing"
        if problem:
            raise ExerciseFormatError(
                f"{where}: probe() {problem} (line {line} of the probe). A probe runs beside "
                "the student's code and only observes: return the raw values (for an "
                "exception: `except Exception as exc: return raised(exc)`) and do every "
                "comparison in verify(), which runs on the grader's side.")


def _catches_everything(handler: ast.ExceptHandler) -> bool:
    kind = handler.type
    return kind is None or (isinstance(kind, ast.Name) and kind.id in ("Exception",
                                                                        "BaseException"))
