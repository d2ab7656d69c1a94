"""The exercise format: one solution file is the single source of an exercise.

``solutions/NN_name.py`` is a py:percent notebook whose cells are of three kinds,
told apart by cell metadata:

* **setup** (no tag): imports and data the exercise needs; released as is.
* **answer** (``tags=["solution"] grade_id="..."``): the student's part. The code
  between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` is the model answer; the
  student version gets a stub that raises ``NotImplementedError`` instead.
* **test** (``tags=["test"] grade_id="..." points=N``): a graded test, written as
  two functions and a call::

      def probe():              # runs in the student's process, returns plain data
          return rmse_usd([1.0, 3.0], [1.0, 1.0])

      def verify(observed):     # runs on the trusted side, on that data only
          assert abs(observed - 2 ** 0.5) < 1e-9, f"expected 1.414, got {observed}"

      verify(probe())           # so that students can run public tests themselves

  A test cell wrapped whole in ``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS``
  is hidden: it is removed from the student version and only the grader runs it.
  ``verify`` must import what it uses itself: it never sees the student's names.

``make exercises`` (``mlops-course exercises generate``) writes the student
notebooks to ``exercises/NN_name.ipynb``; a test checks they are up to date.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_course import config
from mlops_course.errors import ExerciseFormatError

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
STUB_MESSAGE = "Replace this line with your solution"
_NAME = re.compile(r"^\d{2}_[a-z0-9_]+$")


@dataclass(frozen=True)
class GradedTest:
    """One graded test of an exercise."""

    grade_id: str
    points: float
    hidden: bool
    source: str  # the cell's code, hidden markers removed

    @property
    def probe_source(self) -> str:
        """The ``def probe(): ...`` block: the only part that runs beside student code."""
        return _probe_def(self.source, self.grade_id)

    @property
    def verify_source(self) -> str:
        """The cell without ``probe`` and without the ``verify(probe())`` call."""
        tree = ast.parse(self.source)
        kept = [
            node
            for node in tree.body
            if not (isinstance(node, ast.FunctionDef) and node.name == "probe")
            and not (isinstance(node, ast.Expr) and _calls_verify(node.value))
        ]
        return ast.unparse(ast.Module(body=kept, type_ignores=[]))


@dataclass(frozen=True)
class Cell:
    """One cell of an exercise: ``kind`` is markdown, setup, answer or test."""

    kind: str
    source: str
    grade_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Exercise:
    """A parsed solution file."""

    name: str
    path: Path
    cells: tuple[Cell, ...]
    tests: tuple[GradedTest, ...]

    @property
    def answers(self) -> dict[str, str]:
        """The model answers: grade_id -> full source of the answer cell."""
        return {c.grade_id: c.source for c in self.cells if c.kind == "answer" and c.grade_id}

    @property
    def max_points(self) -> float:
        return sum(test.points for test in self.tests)

    def stub_answers(self) -> dict[str, str]:
        """The student version of each answer cell."""
        return {grade_id: stub_solution(src) for grade_id, src in self.answers.items()}

    def setup_and_answers(self, answers: dict[str, str]) -> list[tuple[str, str]]:
        """The code that runs in the student's process, in order, as (label, source):
        setup cells from the template, answer cells from ``answers`` (missing -> empty)."""
        code = []
        for i, cell in enumerate(self.cells):
            if cell.kind == "setup":
                code.append((f"setup cell {i}", cell.source))
            elif cell.kind == "answer":
                code.append((f"answer {cell.grade_id}", answers.get(cell.grade_id or "", "")))
        return code


def _calls_verify(node: ast.expr) -> bool:
    return isinstance(node, ast.Call) and getattr(node.func, "id", None) == "verify"


def _probe_def(source: str, grade_id: str) -> str:
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "probe":
            return ast.unparse(node)
    raise ExerciseFormatError(f"test {grade_id!r} defines no probe() function")


def stub_solution(source: str) -> str:
    """Replace every ``### BEGIN SOLUTION`` … ``### END SOLUTION`` block by a stub.

    Examples
    --------
    >>> source = "def f():\\n    ### BEGIN SOLUTION\\n    return 1\\n    ### END SOLUTION"
    >>> print(stub_solution(source))
    def f():
        # YOUR CODE HERE
        raise NotImplementedError("Replace this line with your solution")
    """
    out: list[str] = []
    inside = False
    for line in source.splitlines():
        stripped = line.strip()
        if stripped == BEGIN_SOLUTION:
            if inside:
                raise ExerciseFormatError(f"nested {BEGIN_SOLUTION}")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}# YOUR CODE HERE")
            out.append(f'{indent}raise NotImplementedError("{STUB_MESSAGE}")')
        elif stripped == END_SOLUTION:
            if not inside:
                raise ExerciseFormatError(f"{END_SOLUTION} without {BEGIN_SOLUTION}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ExerciseFormatError(f"{BEGIN_SOLUTION} without {END_SOLUTION}")
    return "\n".join(out)


def _strip_hidden(source: str, where: str) -> str:
    lines = source.splitlines()
    stripped = [line.strip() for line in lines]
    if stripped.count(BEGIN_HIDDEN) != 1 or stripped.count(END_HIDDEN) != 1:
        raise ExerciseFormatError(f"{where}: a hidden test needs one {BEGIN_HIDDEN} and one "
                                  f"{END_HIDDEN}")
    begin, end = stripped.index(BEGIN_HIDDEN), stripped.index(END_HIDDEN)
    outside = [s for s in stripped[:begin] + stripped[end + 1:] if s]
    if outside:
        raise ExerciseFormatError(f"{where}: a hidden test cell must be hidden whole; move "
                                  f"{outside[0]!r} inside the markers")
    return "\n".join(lines[begin + 1: end])


def solution_path(name: str) -> Path:
    """Return ``solutions/<name>.py``."""
    return config.solutions_dir() / f"{name}.py"


def list_exercises() -> list[str]:
    """Names of every exercise, in order (``01_traditional_workflow``, …)."""
    return sorted(p.stem for p in config.solutions_dir().glob("*.py") if _NAME.match(p.stem))


def load_exercise(name_or_path: str | Path) -> Exercise:
    """Parse a solution file into an :class:`Exercise`, checking the format."""
    import jupytext

    path = Path(name_or_path)
    if not path.suffix:
        key = str(name_or_path)
        key = f"{int(key):02d}_" if key.isdigit() else key
        matches = [name for name in list_exercises() if name.startswith(key)]
        path = solution_path(matches[0] if len(matches) == 1 else key)
    if not path.is_file():
        known = ", ".join(list_exercises()) or "none"
        raise ExerciseFormatError(f"No exercise {path.stem!r} (looked for {path}). Known: {known}.")
    notebook = jupytext.read(path)
    cells: list[Cell] = []
    tests: list[GradedTest] = []
    seen: set[str] = set()
    for i, nb_cell in enumerate(notebook.cells):
        source = nb_cell.source
        meta = dict(nb_cell.metadata)
        tags = set(meta.get("tags", []))
        where = f"{path.name}, cell {i}"
        if nb_cell.cell_type != "code":
            cells.append(Cell("markdown", source, metadata=meta))
            continue
        grade_id = meta.get("grade_id")
        if tags & {"solution", "test"}:
            if not grade_id:
                raise ExerciseFormatError(f"{where}: a graded cell needs grade_id=\"...\"")
            if grade_id in seen:
                raise ExerciseFormatError(f"{where}: grade_id {grade_id!r} is used twice")
            seen.add(grade_id)
        if "solution" in tags:
            if BEGIN_SOLUTION not in source:
                raise ExerciseFormatError(f"{where}: answer cell without {BEGIN_SOLUTION}")
            stub_solution(source)  # checks the markers
            cells.append(Cell("answer", source, grade_id, meta))
        elif "test" in tags:
            hidden = BEGIN_HIDDEN in source
            code = _strip_hidden(source, where) if hidden else source
            points = meta.get("points")
            if not isinstance(points, int | float) or points <= 0:
                raise ExerciseFormatError(f"{where}: test {grade_id!r} needs points=N (N > 0)")
            test = GradedTest(grade_id, float(points), hidden, code)
            test.probe_source  # noqa: B018 - checks that probe() exists
            if "def verify" not in code:
                raise ExerciseFormatError(f"{where}: test {grade_id!r} defines no verify()")
            tests.append(test)
            cells.append(Cell("test", source, grade_id, meta))
        else:
            if BEGIN_SOLUTION in source or BEGIN_HIDDEN in source:
                raise ExerciseFormatError(f"{where}: markers in a cell that is not tagged "
                                          "'solution' or 'test'")
            cells.append(Cell("setup", source, metadata=meta))
    if not tests:
        raise ExerciseFormatError(f"{path.name} has no graded test")
    return Exercise(path.stem, path, tuple(cells), tuple(tests))


def student_notebook(exercise: Exercise) -> Any:
    """Build the student version: stubs for answers, no hidden tests, no outputs."""
    import nbformat
    from nbformat import v4

    public = [t for t in exercise.tests if not t.hidden]
    hidden = [t for t in exercise.tests if t.hidden]
    banner = (
        f"*Generated from `solutions/{exercise.name}.py` by `make exercises`; do not edit.*  \n"
        f"Fill in every cell marked `# YOUR CODE HERE`, then run all cells: the test cells "
        f"check your work ({sum(t.points for t in public):g} points in {len(public)} public "
        f"tests). Graders also run {len(hidden)} hidden tests "
        f"({sum(t.points for t in hidden):g} points), so make your code right, not just green."
    )
    cells = []
    by_id = {t.grade_id: t for t in exercise.tests}
    for cell in exercise.cells:
        meta = {k: cell.metadata[k] for k in ("tags", "grade_id", "points") if k in cell.metadata}
        if cell.kind == "markdown":
            cells.append(v4.new_markdown_cell(cell.source))
            if len(cells) == 1:  # after the title: how to work on it
                cells.append(v4.new_markdown_cell(banner))
        elif cell.kind == "answer":
            cells.append(v4.new_code_cell(stub_solution(cell.source), metadata=meta))
        elif cell.kind == "test" and not by_id[cell.grade_id].hidden or cell.kind == "setup":
            cells.append(v4.new_code_cell(cell.source, metadata=meta))
    for i, cell in enumerate(cells):
        cell["id"] = f"{exercise.name[:2]}-{i:03d}"
    notebook = v4.new_notebook(cells=cells)
    notebook.metadata = {
        "kernelspec": {
            "display_name": "Python (mlops-course)",
            "language": "python",
            "name": config.KERNEL_NAME,
        },
        "language_info": {"name": "python"},
        "mlops_course": {"exercise": exercise.name, "max_points": exercise.max_points},
    }
    nbformat.validate(notebook)
    return notebook


def render_student_notebook(exercise: Exercise) -> str:
    """The student notebook as the exact text written to ``exercises/``."""
    import nbformat

    return nbformat.writes(student_notebook(exercise)) + "\n"


def generate_exercises(names: list[str] | None = None, *, check: bool = False) -> list[Path]:
    """Write ``exercises/NN_name.ipynb`` for each exercise; return the files that changed.

    With ``check=True`` nothing is written: the returned files are those that are
    out of date.
    """
    changed = []
    out_dir = config.exercises_dir()
    for name in names or list_exercises():
        text = render_student_notebook(load_exercise(name))
        target = out_dir / f"{name}.ipynb"
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current != text:
            changed.append(target)
            if not check:
                out_dir.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
    return changed
