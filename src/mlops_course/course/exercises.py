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
from mlops_course.course.observe import check_probe
from mlops_course.errors import ExerciseFormatError

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
STUB_MESSAGE = "Replace this line with your solution"
RAISES_TAG = "raises-exception"  # JupyterLab's Run All goes on past a cell with this tag
_PART = re.compile(r"^#+\s*(Part\s+\d+)\b", re.M)
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
            check_probe(test.probe_source, f"{where}: test {grade_id!r}")  # observes only
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


def _json_number(value: float) -> int | float:
    """A number as a browser writes it back (``8.0`` -> ``8``), so a JupyterLab save of
    an exercise does not change it."""
    return int(value) if float(value).is_integer() else value


def _points_text(points: float) -> str:
    return f"{points:g} point" + ("" if points == 1 else "s")


def pass_line(test: GradedTest, part: str | None = None) -> str:
    """The line that ends a public test cell in the student notebook: it prints a short
    pass message once ``verify(probe())`` has returned (a failing test raises first).

    Examples
    --------
    >>> test = GradedTest("test_add", 1.0, False, "verify(probe())")
    >>> print(pass_line(test, "Part 1"))
    print('✓ Part 1: test_add passed (1 point)')
    """
    where = f"{part}: " if part else ""
    return f"print({f'✓ {where}{test.grade_id} passed ({_points_text(test.points)})'!r})"


def banner(exercise: Exercise) -> str:
    """The "how to work on this exercise" cell that follows the title."""
    public = [t for t in exercise.tests if not t.hidden]
    hidden = [t for t in exercise.tests if t.hidden]
    text = (
        "**How to work on this exercise.** Write your code in the cells marked "
        "`# YOUR CODE HERE`; the other cells are the exercise itself, and grading takes "
        "only your answer cells. Then run all cells (*Run → Run All Cells*): each test "
        "cell prints ✓ when it passes, and a failing test shows its error without stopping "
        f"the cells below it. Here: {len(public)} public tests "
        f"({_points_text(sum(t.points for t in public))})."
    )
    if hidden:
        text += (f" Graders also run {len(hidden)} hidden tests "
                 f"({_points_text(sum(t.points for t in hidden))}) with other inputs, so "
                 "make your code right, not just green.")
    return text + " Your work lives in this file: save it often."


def student_notebook(exercise: Exercise) -> Any:
    """Build the student version: stubs for answers, no hidden tests, no outputs.

    Public test cells carry the ``raises-exception`` tag (JupyterLab's *Run All* goes on
    past a failing test, so every Part gets run) and end with :func:`pass_line`.
    """
    import nbformat
    from nbformat import v4

    cells = []
    by_id = {t.grade_id: t for t in exercise.tests}
    part = None
    for cell in exercise.cells:
        meta = {k: cell.metadata[k] for k in ("tags", "grade_id", "points") if k in cell.metadata}
        if "points" in meta:
            meta["points"] = _json_number(meta["points"])
        if cell.kind == "markdown":
            heading = _PART.search(cell.source)
            part = heading.group(1) if heading else part
            cells.append(v4.new_markdown_cell(cell.source))
            if len(cells) == 1:  # after the title: how to work on it
                cells.append(v4.new_markdown_cell(banner(exercise)))
        elif cell.kind == "answer":
            cells.append(v4.new_code_cell(stub_solution(cell.source), metadata=meta))
        elif cell.kind == "test" and not by_id[cell.grade_id].hidden:
            meta["tags"] = [*meta.get("tags", []), RAISES_TAG]
            source = cell.source.rstrip() + "\n" + pass_line(by_id[cell.grade_id], part)
            cells.append(v4.new_code_cell(source, metadata=meta))
        elif cell.kind == "setup":
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
        "mlops_course": {"exercise": exercise.name,
                         "max_points": _json_number(exercise.max_points)},
    }
    nbformat.validate(notebook)
    return notebook


def render_student_notebook(exercise: Exercise) -> str:
    """The student notebook as the exact text written to ``exercises/``."""
    import nbformat

    return nbformat.writes(student_notebook(exercise)) + "\n"


@dataclass(frozen=True)
class ExerciseFile:
    """How an exercise notebook on disk compares with the one generated from its solution.

    Only what the generator controls is compared: the cells (matched by their ids), their
    kind, tags, ``grade_id`` and points, the source of every cell but the answer cells, and
    the kernel and exercise metadata. What working in JupyterLab changes is not a
    difference: the answer cells (the student's work), outputs, execution counts, cells
    the student added, ``language_info`` and numbers written back as ``8`` for ``8.0``.
    """

    path: Path
    exercise: str
    exists: bool
    error: str | None = None  # the file is not a readable notebook
    stale: tuple[str, ...] = ()  # parts of the exercise that differ from the generated one
    work: tuple[str, ...] = ()  # what someone added: answers, outputs, own cells
    answers: tuple[tuple[str, str], ...] = ()  # (grade_id, source) of edited answer cells

    @property
    def up_to_date(self) -> bool:
        return self.exists and self.error is None and not self.stale

    def advice(self) -> str:
        """What is wrong and the command that fixes it; the command never loses work."""
        name = f"exercises/{self.path.name}"
        if not self.exists:
            return f"{name} is missing: run `make exercises`"
        if self.error:
            what = f"{name} is not a readable notebook ({self.error})"
        else:
            what = (f"{name} differs from the exercise generated from "
                    f"solutions/{self.exercise}.py: " + "; ".join(self.stale[:3])
                    + ("; …" if len(self.stale) > 3 else ""))
        keeps = ""
        if self.answers:
            keeps = f", keeps your answers ({', '.join(g for g, _ in self.answers)})"
        if self.work or self.error:
            keeps += (f" and first copies the current file to exercises/{self.exercise}"
                      f".backup-<date>.ipynb, so nothing you wrote is lost")
        return f"{what}.\nFix: run `make exercises`: it rewrites the exercise{keeps}."


def _tags(metadata: dict[str, Any]) -> tuple[str, ...]:
    tags = metadata.get("tags")
    return tuple(sorted(t for t in tags if isinstance(t, str))) if isinstance(tags, list) else ()


def _number(value: Any) -> Any:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _cell_label(index: int, cell: Any) -> str:
    meta = cell.get("metadata", {})
    if meta.get("grade_id"):
        kind = "answer" if "solution" in _tags(meta) else "test"
        return f"cell {index} ({kind} {meta['grade_id']})"
    if cell.get("cell_type") == "markdown":
        first = (cell.get("source") or "").strip().splitlines()[:1]
        return f"cell {index} ({first[0][:40] if first else 'text'})"
    return f"cell {index} (setup code)"


def _plain(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def inspect_exercise_file(exercise: Exercise, path: Path | None = None) -> ExerciseFile:
    """Compare ``exercises/<name>.ipynb`` (or ``path``) with the generated notebook."""
    import nbformat

    path = path or config.exercises_dir() / f"{exercise.name}.ipynb"
    if not path.exists():
        return ExerciseFile(path, exercise.name, exists=False)
    try:
        found = nbformat.reads(path.read_text(encoding="utf-8"), as_version=4)
        cells = list(found.cells)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same advice
        return ExerciseFile(path, exercise.name, exists=True, error=str(exc).splitlines()[0])
    template = student_notebook(exercise)
    by_id = {c.get("id"): c for c in cells if c.get("id")}
    use_ids = any(c["id"] in by_id for c in template.cells)  # else: matched by position
    stale: list[str] = []
    work: list[str] = []
    answers: list[tuple[str, str]] = []
    matched = set()
    for i, want in enumerate(template.cells):
        got = by_id.get(want["id"]) if use_ids else (cells[i] if i < len(cells) else None)
        label = _cell_label(i, want)
        if got is None:
            stale.append(f"{label} is missing")
            continue
        matched.add(id(got))
        got_meta = got.get("metadata", {})
        fields = {"cell type": (got.get("cell_type"), want.cell_type),
                  "tags": (list(_tags(got_meta)), list(_tags(want.metadata))),
                  "grade_id": (got_meta.get("grade_id"), want.metadata.get("grade_id")),
                  "points": (_number(got_meta.get("points")),
                             _number(want.metadata.get("points")))}
        other = [f"{key} {have!r} instead of {should!r}"
                 for key, (have, should) in fields.items() if have != should]
        is_answer = "solution" in _tags(want.metadata)
        if other:
            stale.append(f"{label} has {', '.join(other)}")
        elif not is_answer and _plain(got.get("source", "")) != _plain(want.source):
            stale.append(f"{label} was changed")
        elif is_answer and _plain(got.get("source", "")) != _plain(want.source):
            answers.append((want.metadata["grade_id"], got.get("source", "")))
    own = [c for c in cells if id(c) not in matched]
    if answers:
        work.append(f"{len(answers)} answer cell(s)")
    if own:
        work.append(f"{len(own)} cell(s) of your own")
    if any(c.get("outputs") for c in cells):
        work.append("outputs")
    meta, want_meta = found.get("metadata", {}), template.metadata
    kernel = (meta.get("kernelspec") or {}).get("name")
    if kernel != want_meta["kernelspec"]["name"]:
        stale.append(f"the kernel is {kernel!r}, not {want_meta['kernelspec']['name']!r}")
    course = meta.get("mlops_course") or {}
    if (course.get("exercise"), _number(course.get("max_points"))) != (
            exercise.name, _number(want_meta["mlops_course"]["max_points"])):
        stale.append(f"its exercise metadata is {course!r}")
    return ExerciseFile(path, exercise.name, True, None, tuple(stale), tuple(work),
                        tuple(answers))


def _backup(path: Path) -> Path:
    import time

    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.stem}.backup-{stamp}.ipynb")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.stem}.backup-{stamp}-{n}.ipynb")
    target.write_bytes(path.read_bytes())
    return target


def generate_exercises(names: list[str] | None = None, *, check: bool = False,
                       pristine: bool = False, notes: list[str] | None = None) -> list[Path]:
    """Write ``exercises/NN_name.ipynb`` for each exercise; return the files that changed.

    Never loses work: a file whose exercise part is up to date but that holds answers,
    outputs or cells of someone's own is left alone; when such a file must be rewritten
    (its exercise part is out of date, or it is not a readable notebook), it is first
    copied to ``exercises/NN_name.backup-<date>.ipynb`` and the edited answer cells are
    carried into the new notebook (``pristine=True``: not carried, the copy is still
    made). ``notes`` collects one line per such file.

    With ``check=True`` nothing is written: the returned files are those whose exercise
    part is out of date (see :class:`ExerciseFile`).
    """
    import nbformat

    changed = []
    notes = notes if notes is not None else []
    out_dir = config.exercises_dir()
    for name in names or list_exercises():
        exercise = load_exercise(name)
        text = render_student_notebook(exercise)
        target = out_dir / f"{exercise.name}.ipynb"
        state = inspect_exercise_file(exercise, target)
        if check:
            if not state.up_to_date:
                changed.append(target)
            continue
        if state.exists and target.read_text(encoding="utf-8", errors="replace") == text:
            continue
        if state.up_to_date and state.work and not pristine:
            notes.append(f"kept {target.name}: it is up to date and holds your work "
                         f"({', '.join(state.work)})")
            continue
        if state.exists and (state.work or state.error):
            backup = _backup(target)
            carried = dict(state.answers) if not pristine else {}
            if carried:
                notebook = student_notebook(exercise)
                for cell in notebook.cells:
                    if cell.metadata.get("grade_id") in carried and cell.cell_type == "code":
                        cell.source = carried[cell.metadata["grade_id"]]
                text = nbformat.writes(notebook) + "\n"
            kept = f"kept your answers ({', '.join(carried)}); " if carried else ""
            notes.append(f"rewrote {target.name}: {kept}the previous file is {backup.name}")
        out_dir.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        changed.append(target)
    return changed


def stray_exercise_files() -> list[Path]:
    """Notebooks in ``exercises/`` named like an exercise that has no solution any more.

    Backups, checkpoints (``.ipynb_checkpoints/``) and a student's own files are not
    strays."""
    known = set(list_exercises())
    folder = config.exercises_dir()
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.ipynb")
                  if _NAME.match(p.stem) and p.stem not in known)
