"""The course book behind ``mlops-course book`` and ``make book``: one offline website.

The book is built with Jupyter Book 1.x (Sphinx, MyST-NB, the sphinx-book-theme) from
what the course already has and checks:

- ``lectures/NN-topic.md`` — each lesson's lecture;
- the executed lesson notebooks — by default those of the last ``make lessons`` run in
  full mode (``build/lessons/NN_topic.ipynb``), else the outputs stored in
  ``notebooks/NN_topic.ipynb`` by ``make outputs``; a lesson whose only outputs come
  from a fast-mode run is shown with a warning that says so, and every notebook page
  says at its top which run it shows (:func:`choose_notebook`);
- ``exercises/NN_topic.ipynb`` — the student notebooks, without outputs;
- a results page: the key metrics of every lesson as recorded in the notebook shown,
  with the status and time of ``build/lessons/summary.json`` when that run is shown.

The table of contents is generated from what exists (the lessons of
:func:`mlops_course.course.lessons.discover`, the lecture files, the exercises), so a new
lesson appears in the book when its files land. Pages follow the course: lesson N's
lecture, then its notebook, then its exercise.

The book never executes a notebook (``execute_notebooks: off``): ``make book`` runs
``make lessons`` first when there is no ``build/lessons/summary.json``. Everything is
generated into ``build/book-src/`` (pages, ``_config.yml``, ``_toc.yml``) and built with
warnings as errors into ``build/book/``: a broken cross-reference or a missing figure
fails the build. Nothing is fetched from the web: math is rendered by a local MathJax
(``sphinx-mathjax-offline``) and the theme's launch, repository and comment buttons are
off. Relative links between course files work on GitHub and are mapped to the book's
pages (a link to a lesson's ``.py`` source becomes a link to its executed page).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_course import config
from mlops_course.course.results import METRICS_MIME
from mlops_course.errors import MlopsCourseError

LECTURE_PATTERN = re.compile(r"^(\d{2})-[a-z0-9-]+\.md$")
NOTEBOOK_SOURCE_PATTERN = re.compile(r"^(\d{2})_[a-z0-9_]+$")
BOOK_TITLE = "MLOps course"
# a Markdown link or image: [text](target "title") / ![alt](target)
_LINK = re.compile(r"(?P<bang>!?)\[(?P<text>[^\]\n]*)\]"
                   r"\((?P<target>[^)\s]+)(?P<title>\s+\"[^\"]*\")?\)")
# a house, so that browsers do not ask for a missing /favicon.ico
FAVICON_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><title>mlops-course'
               '</title><path d="M4 15 16 4l12 11h-4v13H8V15z" fill="#1f77b4"/>'
               '<path d="M13 28v-8h6v8z" fill="#fff"/></svg>\n')
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
_FENCE = re.compile(r"^\s*(```|~~~)")


class BookError(MlopsCourseError):
    """The course book cannot be built (missing sources, or Sphinx reported a problem)."""


MARKER = ".mlops-course-book"  # marks a folder this module wrote (safe to replace)


def _check_replaceable(folder: Path) -> None:
    """Refuse to replace a folder that holds anything but an earlier build of the book."""
    if folder.is_file() or (folder.is_dir() and any(folder.iterdir())
                            and not (folder / MARKER).exists()):
        raise BookError(f"{folder} is not empty and was not written by `mlops-course book`; "
                        "nothing was changed. Choose a new or empty folder (default: "
                        "build/book).")


@dataclass(frozen=True)
class NotebookSource:
    """Which executed notebook a lesson page shows, and what run it comes from.

    ``origin`` is ``"run"`` (``build/lessons/``, written by ``make lessons``), ``"stored"``
    (``notebooks/NN_topic.ipynb``, written by ``make outputs``) or ``"none"`` (the lesson
    has not been run: its code is shown without outputs). ``fast`` is True for a
    fast-mode run, None when the notebook does not say.
    """

    path: Path
    origin: str
    fast: bool | None
    finished: str | None = None

    def describe(self) -> str:
        """One sentence for the top of the page: which run, which mode, which file."""
        rel = _relative(self.path)
        if self.origin == "none":
            return (f"This lesson has not been run yet: the code below has no outputs. Run "
                    f"`make lessons` (or `make outputs`) and then `make book` to see them. "
                    f"Source: `{rel}`.")
        mode = {True: "**fast mode** (small samples, few estimators: numbers differ from the "
                      "full run the prose describes)",
                False: "**full mode**", None: "an unrecorded mode"}[self.fast]
        when = ""
        if self.finished:  # 2026-11-30T00:14:54+00:00 -> 2026-11-30 00:14 UTC
            when = f" (finished {self.finished[:16].replace('T', ' ')} UTC)"
        what = ("the last `make lessons` run" if self.origin == "run"
                else "the outputs stored with the course by `make outputs`")
        return (f"The outputs on this page come from {what}{when}, in {mode}. "
                f"Executed notebook: `{rel}`.")


@dataclass
class BookLesson:
    """One lesson's pages: its lecture, its executed notebook and its exercise (each may
    be missing while a lesson is being written)."""

    number: int
    name: str | None  # the notebook stem, e.g. 01_traditional_workflow
    title: str
    lecture: Path | None = None
    notebook: NotebookSource | None = None
    exercise: Path | None = None
    summary: dict[str, Any] | None = None  # this lesson's entry of summary.json, if shown

    @property
    def key(self) -> str:
        return f"{self.number:02d}"


@dataclass
class BookReport:
    """What ``build_book`` did: the output folder, its pages, the seconds it took."""

    out_dir: Path
    src_dir: Path
    lessons: list[BookLesson]
    pages: list[str] = field(default_factory=list)
    unlinked: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def format(self) -> str:
        lines = [f"{'lesson':<7} {'lecture':<8} {'exercise':<9} notebook outputs from"]
        for lesson in self.lessons:
            nb = lesson.notebook
            source = "-" if nb is None else (
                f"{nb.origin}: {_relative(nb.path)}" + (" (FAST)" if nb.fast else ""))
            lines.append(f"{lesson.key:<7} {'yes' if lesson.lecture else 'no':<8} "
                         f"{'yes' if lesson.exercise else 'no':<9} {source}")
        for note in dict.fromkeys(self.unlinked):
            lines.append(f"note: {note}")
        lines.append(f"{len(self.pages)} pages in {self.seconds:.1f} s -> "
                     f"{_relative(self.out_dir / 'index.html')}")
        return "\n".join(lines)


def _relative(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(config.project_root()))
    except ValueError:
        return str(path)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def _has_outputs(notebook: dict[str, Any]) -> bool:
    return any(cell.get("outputs") for cell in notebook.get("cells", [])
               if cell.get("cell_type") == "code")


def _has_errors(notebook: dict[str, Any]) -> bool:
    return any(output.get("output_type") == "error" for cell in notebook.get("cells", [])
               for output in cell.get("outputs", []))


def _fast_flag(notebook: dict[str, Any]) -> bool | None:
    value = notebook.get("metadata", {}).get("papermill", {}).get("parameters", {}).get("FAST")
    return value if isinstance(value, bool) else None


def choose_notebook(name: str, *, prefer: str = "run", lessons_dir: Path | None = None,
                    summary: dict[str, Any] | None = None) -> NotebookSource:
    """Pick the executed notebook the book shows for lesson ``name``.

    With ``prefer="run"`` (``make book``) the order is: the last ``make lessons`` run in
    full mode (``build/lessons/``), the outputs stored in ``notebooks/`` (full mode), a
    fast-mode run (flagged on the page), and last the source without outputs. A run that
    failed (an error output, or ``status: failed`` in ``summary.json``) is never shown.
    ``prefer="stored"`` puts the stored outputs first (the test uses it: no lesson runs).
    """
    lessons_dir = lessons_dir or config.build_dir() / "lessons"
    run_path = lessons_dir / f"{name}.ipynb"
    stored_path = config.notebooks_dir() / f"{name}.ipynb"
    entries = {e.get("name"): e for e in (summary or {}).get("lessons", [])}
    finished = (summary or {}).get("finished_utc")
    run = stored = None
    if run_path.is_file() and entries.get(name, {}).get("status", "ok") == "ok":
        notebook = _read_json(run_path)
        if notebook and _has_outputs(notebook) and not _has_errors(notebook):
            fast = _fast_flag(notebook)
            same_run = name in entries and entries[name].get("fast") == fast
            run = NotebookSource(run_path, "run", fast, finished if same_run else None)
    if stored_path.is_file():
        notebook = _read_json(stored_path)
        if notebook and _has_outputs(notebook) and not _has_errors(notebook):
            stored = NotebookSource(stored_path, "stored", _fast_flag(notebook) or False)
    full_run = run if run is not None and run.fast is False else None
    order = [full_run, stored] if prefer == "run" else [stored, full_run]
    for source in [*order, run]:
        if source is not None:
            return source
    return NotebookSource(config.notebooks_dir() / f"{name}.py", "none", None)


def plan_lessons(*, prefer: str = "run", lessons_dir: Path | None = None,
                 summary: dict[str, Any] | None = None) -> list[BookLesson]:
    """The book's lessons, in order, from the files that exist: lesson notebooks
    (``lessons.discover()``), ``lectures/NN-*.md`` and ``exercises/NN_*.ipynb``."""
    from mlops_course.course.lessons import discover

    root = config.project_root()
    by_number: dict[int, BookLesson] = {}
    for lesson in discover():
        by_number[lesson.number] = BookLesson(
            lesson.number, lesson.name, lesson.title,
            notebook=choose_notebook(lesson.name, prefer=prefer, lessons_dir=lessons_dir,
                                     summary=summary))
        exercise = config.exercises_dir() / f"{lesson.name}.ipynb"
        if exercise.is_file():
            by_number[lesson.number].exercise = exercise
    for path in sorted((root / "lectures").glob("*.md")):
        match = LECTURE_PATTERN.match(path.name)
        if not match:
            continue
        number = int(match.group(1))
        title = _markdown_title(path.read_text(encoding="utf-8")) or path.stem
        lesson = by_number.setdefault(number, BookLesson(number, None, title))
        lesson.lecture, lesson.title = path, title
    entries = {e.get("name"): e for e in (summary or {}).get("lessons", [])}
    for lesson in by_number.values():
        entry = entries.get(lesson.name)
        if lesson.notebook is not None and lesson.notebook.origin == "run" and entry and \
                entry.get("fast") == lesson.notebook.fast:
            lesson.summary = {**entry, "machine": (summary or {}).get("machine")}
    return [by_number[n] for n in sorted(by_number)]


def _markdown_title(text: str) -> str | None:
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return None


# --------------------------------------------------------------------------- links
class _Linker:
    """Rewrites relative links of a course file so that they resolve in the book.

    A link keeps working on GitHub (it points at a file of the checkout); in the book it
    must point at a page. Lectures, notebooks and exercises in the book are kept (a
    lesson's ``.py`` source becomes its executed ``.ipynb`` page); a link to a file of the
    checkout that has no page (``Makefile``, a module) becomes its path as code; a link to
    a lesson file that is not in this checkout yet (a lesson being written) becomes plain
    text and is reported. Any other target is left alone, so Sphinx (``-W``) fails on it.
    """

    def __init__(self, root: Path, pages: dict[str, str]) -> None:
        self.root = root.resolve()
        self.pages = pages  # checkout path (posix) -> book page path (posix, with suffix)
        self.unlinked: list[str] = []

    def rewrite(self, text: str, source: Path, page: str) -> str:
        """Return ``text`` (Markdown of ``source``, shown as book page ``page``) rewritten."""
        out, in_fence = [], False
        for line in text.split("\n"):
            if _FENCE.match(line):
                line = line if in_fence else _known_lexer(line)
                in_fence = not in_fence
            out.append(line if in_fence else _LINK.sub(
                lambda m: self._one(m, source, page), line))
        return "\n".join(out)

    def _one(self, match: re.Match[str], source: Path, page: str) -> str:
        target = match.group("target")
        if _SCHEME.match(target) or target.startswith(("#", "/")) or match.group("bang"):
            return match.group(0)  # web links, anchors, absolute paths, images: as they are
        path, _, fragment = target.partition("#")
        resolved = (source.parent / path).resolve()
        try:
            rel = resolved.relative_to(self.root).as_posix()
        except ValueError:
            return match.group(0)
        text = match.group("text")
        stem = Path(rel).stem
        lesson_file = re.match(r"^(lectures/\d{2}-|notebooks/\d{2}_|exercises/\d{2}_)", rel)
        if rel.endswith(".py") and f"notebooks/{stem}.ipynb" in self.pages:
            rel = f"notebooks/{stem}.ipynb"
        if rel in self.pages:
            link = _relpath(self.pages[rel], page) + (f"#{fragment}" if fragment else "")
            return f"[{text}]({link}{match.group('title') or ''})"
        if lesson_file and not resolved.exists():
            self.unlinked.append(f"{_relative(source)} links to {rel}, which is not in this "
                                 "checkout yet: shown as plain text")
            return text
        if resolved.exists():
            shown = rel + ("/" if resolved.is_dir() else "")
            return text if f"`{shown}`" in text or text == f"`{rel}`" else f"{text} (`{shown}`)"
        return match.group(0)


def _known_lexer(fence: str) -> str:
    """A fence's language as Sphinx can highlight it: a Mermaid diagram is shown as its
    source with a caption (GitHub and JupyterLab draw it; the book has no Mermaid
    renderer offline); another language Pygments does not know is shown as text."""
    match = re.match(r"^(\s*)(```+|~~~+)\s*([\w+#.-]+)\s*$", fence)
    if not match:
        return fence
    indent, marks, language = match.groups()
    if language.lower() == "mermaid":
        return (f"{indent}{marks}{{code-block}} text\n{indent}:caption: Diagram (Mermaid "
                "source: GitHub and JupyterLab draw it)\n")
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    try:
        get_lexer_by_name(language)
    except ClassNotFound:
        return f"{indent}{marks}text"
    return fence


def _relpath(target: str, page: str) -> str:
    """``target`` relative to the folder of ``page`` (both book paths, posix)."""
    import posixpath

    return posixpath.relpath(target, posixpath.dirname(page) or ".")


# --------------------------------------------------------------------------- pages
def _admonition(kind: str, title: str, body: str) -> str:
    return f"```{{admonition}} {title}\n:class: {kind}\n\n{body}\n```"


def _notebook_page(source: NotebookSource, lesson: BookLesson, linker: _Linker, page: str,
                   results_label: str) -> dict[str, Any]:
    src = source.path
    if source.origin == "none":
        import jupytext
        import nbformat

        notebook = json.loads(nbformat.writes(jupytext.read(src)))
    else:
        notebook = json.loads(src.read_text(encoding="utf-8"))
    kind = "warning" if source.origin == "none" or source.fast else "note"
    ran = lesson.summary or {}
    took = (f" It took {ran['seconds']:.0f} s on {ran['machine']}."
            if ran.get("seconds") is not None and ran.get("machine") else "")
    banner = _admonition(kind, "Which run this page shows", source.describe() + took + (
        " The book shows these outputs; it never runs a notebook itself. The lesson's key "
        f"metrics are on the {{ref}}`results page <{results_label}>`."
        if source.origin != "none" else ""))
    _rewrite_cells(notebook, linker, lesson_source_for(src), page)
    for cell in notebook.get("cells", []):  # the metrics' own MIME type: shown as text/plain
        for output in cell.get("outputs", []):
            output.get("data", {}).pop(METRICS_MIME, None)
    _insert_after_title(notebook, banner)
    _figure_alt_text(notebook)
    return notebook


def lesson_source_for(path: Path) -> Path:
    """The checkout path that relative links of a notebook resolve against."""
    return config.notebooks_dir() / path.name if path.parent.name != "notebooks" else path


def _exercise_page(path: Path, linker: _Linker, page: str) -> dict[str, Any]:
    notebook = json.loads(path.read_text(encoding="utf-8"))
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
    banner = _admonition("tip", "The exercise, as students get it", (
        f"This is `{_relative(path)}` without outputs. Open it in JupyterLab (`make lab`), "
        "fill in every cell marked `# YOUR CODE HERE` and *Run All*: each public test cell "
        "prints a ✓ line when it passes. Hidden tests with other inputs are run when your "
        "work is graded. The download button at the top of this page gives the notebook."))
    _rewrite_cells(notebook, linker, path, page)
    _insert_after_title(notebook, banner)
    return notebook


def _rewrite_cells(notebook: dict[str, Any], linker: _Linker, source: Path, page: str) -> None:
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") == "markdown":
            text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            cell["source"] = linker.rewrite(text, source, page)


def _insert_after_title(notebook: dict[str, Any], banner: str) -> None:
    cells = notebook.setdefault("cells", [])
    for cell in cells:
        if cell.get("cell_type") != "markdown":
            break
        text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        lines = text.split("\n")
        for i, line in enumerate(lines):
            if line.startswith("# "):
                cell["source"] = "\n".join([*lines[: i + 1], "", banner, "", *lines[i + 1:]])
                return
    cells.insert(0, {"cell_type": "markdown", "metadata": {}, "source": banner})


_TITLE_IN_CODE = re.compile(r"""(?:title|suptitle|set_title)\s*[=(]\s*f?(["'])([^{}\n]{4,}?)\1""")


def _figure_alt_text(notebook: dict[str, Any]) -> None:
    """Give each plot an alt text: the titles its cell sets (MyST-NB reads ``mystnb.image``
    cell metadata), else the heading of the section it is in."""
    heading = "the lesson"
    for cell in notebook.get("cells", []):
        text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell.get("cell_type") == "markdown":
            found = [line.lstrip("#").strip() for line in text.splitlines()
                     if line.startswith("#")]
            heading = found[-1] if found else heading
            continue
        if not any("image/png" in o.get("data", {}) for o in cell.get("outputs", [])):
            continue
        titles = [title for _, title in _TITLE_IN_CODE.findall(text)]
        alt = ("Plot: " + "; ".join(titles)) if titles else f"Plot of the section “{heading}”"
        meta = cell.setdefault("metadata", {}).setdefault("mystnb", {})
        meta.setdefault("image", {}).setdefault("alt", alt)


def _format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value).replace("|", "\\|")


def _results_page(lessons: list[BookLesson], summary: dict[str, Any] | None,
                  pages: dict[str, str]) -> str:
    from mlops_course.course.results import read_metrics

    lines = ["# Results of the lessons", "",
             "Every lesson ends with a cell that asserts its claims and records its key "
             "metrics. This page collects them from the executed notebooks that this book "
             "shows (each notebook page says which run that is). Metrics whose names end in "
             "`_usd` are in dollars; an RMSE is the root of the mean squared error over the "
             "$n$ test districts,", "",
             r"$$\mathrm{RMSE} = \sqrt{\frac{1}{n}\sum_{i=1}^{n}\left(y_i - \hat{y}_i\right)^2},$$",
             "", "where $y_i$ is a district's median house value and $\\hat{y}_i$ the "
             "model's prediction.", ""]
    if summary:
        lines += [f"The last `make lessons` run (`build/lessons/summary.json`) ran in "
                  f"**{summary.get('mode', '?')} mode**, finished "
                  f"{summary.get('finished_utc', '?')} on {summary.get('machine', '?')} "
                  f"(Python {summary.get('python', '?')}).", ""]
    else:
        lines += ["No `make lessons` run is recorded (`build/lessons/summary.json` is "
                  "missing): the notebooks shown are the stored outputs.", ""]
    lines += ["| lesson | outputs shown | mode | status | seconds | metrics |",
              "| --- | --- | --- | --- | --- | --- |"]
    sections = []
    for lesson in lessons:
        nb = lesson.notebook
        if nb is None or lesson.name is None:
            continue
        metrics = {} if nb.origin == "none" else read_metrics(_read_json(nb.path) or {})
        mode = {True: "fast", False: "full", None: "—"}[nb.fast]
        origin = {"run": "`make lessons`", "stored": "stored (`make outputs`)",
                  "none": "not run"}[nb.origin]
        entry = lesson.summary or {}
        status = entry.get("status", "ok" if nb.origin != "none" else "—")
        seconds = f"{entry['seconds']:.1f}" if "seconds" in entry else "—"
        anchor = f"results-{lesson.key}"
        link = _relpath(pages[f"notebooks/{lesson.name}.ipynb"], "results.md")
        lines.append(f"| [{lesson.title}]({link}) | {origin} | {mode} | "
                     f"{status} | {seconds} | {{ref}}`{len(metrics)} <{anchor}>` |")
        sections += [f"({anchor})=", f"## {lesson.title}", ""]
        if metrics:
            sections += ["| metric | value |", "| --- | --- |"]
            sections += [f"| `{k}` | {_format_value(v)} |" for k, v in metrics.items()]
        else:
            sections.append("No metrics recorded: this lesson has not been run.")
        sections.append("")
    return "\n".join([*lines, "", *sections])


def _index_page(lessons: list[BookLesson], pages: dict[str, str]) -> str:
    lines = [f"# {BOOK_TITLE}: the book", "",
             "An MLOps course in which every lesson is an executable, tested notebook. One "
             "task runs through the whole course — predicting the median house value of a "
             "California district — and each lesson fixes one problem of the traditional "
             "notebook workflow that lesson 1 builds and measures.", "",
             "Work through a lesson in order: read the **lecture**, read (then run) the "
             "**notebook** — shown here with the outputs of a real run — and do the "
             "**exercise**. The [results page](results.md) collects every lesson's key "
             "metrics.", "",
             "| # | lesson | lecture | notebook | exercise |", "| --- | --- | --- | --- | --- |"]
    for lesson in lessons:
        cells = []
        for kind, key in (("lecture", lesson.lecture and f"lectures/{lesson.lecture.name}"),
                          ("notebook", lesson.name and f"notebooks/{lesson.name}.ipynb"),
                          ("exercise", lesson.exercise and f"exercises/{lesson.name}.ipynb")):
            label = kind
            if kind == "notebook" and lesson.notebook is not None:
                label = {"run": "executed", "stored": "executed",
                         "none": "not run yet"}[lesson.notebook.origin]
                label += " (fast mode)" if lesson.notebook.fast else ""
            cells.append(f"[{label}]({pages[key]})" if key and key in pages else "—")
        lines.append(f"| {lesson.number} | {lesson.title} | " + " | ".join(cells) + " |")
    lines += ["", "This website is generated by `make book` (`mlops-course book`) from the "
              "course's files; it needs no internet and opens from `build/book/index.html`."]
    return "\n".join(lines) + "\n"


def _config_yaml(title: str) -> str:
    settings = {
        "title": title,
        "author": "the mlops-course authors",
        "copyright": "",
        "only_build_toc_files": True,
        "exclude_patterns": ["_build", "_doctrees", "**.ipynb_checkpoints"],
        "execute": {"execute_notebooks": "off"},
        "parse": {"myst_enable_extensions": ["colon_fence", "dollarmath", "substitution",
                                             "tasklist"],
                  "myst_url_schemes": ["mailto", "http", "https"],
                  "myst_dmath_double_inline": True},
        "html": {"favicon": "_static/favicon.svg", "use_edit_page_button": False,
                 "use_repository_button": False, "use_issues_button": False,
                 "use_multitoc_numbering": False,
                 "home_page_in_navbar": True, "comments": {"hypothesis": False,
                                                           "utterances": False},
                 "analytics": {"google_analytics_id": "", "plausible_analytics_domain": ""}},
        "launch_buttons": {"notebook_interface": "jupyterlab", "binderhub_url": "",
                           "jupyterhub_url": "", "thebe": False, "colab_url": "",
                           "deepnote_url": ""},
        "repository": {"url": "", "path_to_book": "", "branch": "main"},
        "sphinx": {
            "extra_extensions": ["sphinx-mathjax-offline"],
            "config": {
                # Jupyter Book's list without thebe (a launcher that would load its code
                # from unpkg.com) and the LaTeX builder; MathJax from the venv.
                "extensions": ["sphinx_togglebutton", "sphinx_copybutton", "myst_nb",
                               "jupyter_book", "sphinx_comments", "sphinx_external_toc",
                               "sphinx_design", "sphinx_book_theme", "sphinx-mathjax-offline"],
                # "$48,976 and $55,000" is money, not math: no space inside $...$, no digit
                # right after the closing $.
                "myst_dmath_allow_space": False,
                "myst_dmath_allow_digits": False,
                "nb_merge_streams": True,
                "html_show_copyright": False,
                "html_context": {"default_mode": "light"},
                "html_theme_options": {
                    "use_download_button": True, "use_fullscreen_button": False,
                    "use_repository_button": False, "use_issues_button": False,
                    "use_edit_page_button": False, "launch_buttons": {},
                    "show_toc_level": 2, "navigation_with_keys": False,
                },
            },
        },
    }
    import yaml

    return yaml.safe_dump(settings, sort_keys=False, allow_unicode=True)


def _toc_yaml(lessons: list[BookLesson], pages: dict[str, str]) -> str:
    chapters = []
    for lesson in lessons:
        files = []
        if lesson.lecture is not None:
            files.append((pages[f"lectures/{lesson.lecture.name}"], None))
        if lesson.name is not None:
            label = "Notebook (executed)" if lesson.notebook and lesson.notebook.origin != "none" \
                else "Notebook (not run yet)"
            files.append((pages[f"notebooks/{lesson.name}.ipynb"],
                          f"{label}" if lesson.lecture is not None else None))
        if lesson.exercise is not None:
            files.append((pages[f"exercises/{lesson.name}.ipynb"], "Exercise"))
        first, *rest = files
        chapter: dict[str, Any] = {"file": _no_suffix(first[0])}
        if rest:
            chapter["sections"] = [{"file": _no_suffix(f), "title": f"{t}"} for f, t in rest]
        chapters.append(chapter)
    toc = {"format": "jb-book", "root": "index",
           "parts": [{"caption": "Lessons", "numbered": False, "chapters": chapters},
                     {"caption": "Results", "chapters": [{"file": "results"}]}]}
    import yaml

    return yaml.safe_dump(toc, sort_keys=False, allow_unicode=True)


def _no_suffix(page: str) -> str:
    return page.rsplit(".", 1)[0]


def write_sources(lessons: list[BookLesson], src_dir: Path, *,
                  summary: dict[str, Any] | None = None) -> tuple[list[str], list[str]]:
    """Write the book's source folder: pages, ``_config.yml``, ``_toc.yml``.

    Returns the pages written (book paths) and the notes about links shown as text.
    """
    root = config.project_root()
    _check_replaceable(src_dir)
    if src_dir.exists():
        shutil.rmtree(src_dir)
    src_dir.mkdir(parents=True)
    (src_dir / MARKER).write_text("Written by `mlops-course book`.\n", encoding="utf-8")
    pages: dict[str, str] = {}
    for lesson in lessons:
        if lesson.lecture is not None:
            pages[f"lectures/{lesson.lecture.name}"] = f"lectures/{lesson.lecture.name}"
        if lesson.name is not None:
            pages[f"notebooks/{lesson.name}.ipynb"] = f"notebooks/{lesson.name}.ipynb"
            pages[f"notebooks/{lesson.name}.py"] = f"notebooks/{lesson.name}.ipynb"
        if lesson.exercise is not None:
            pages[f"exercises/{lesson.name}.ipynb"] = f"exercises/{lesson.name}.ipynb"
    linker = _Linker(root, pages)
    lectures = root / "lectures"
    if lectures.is_dir():  # the lectures with their figures (any non-Markdown file)
        shutil.copytree(lectures, src_dir / "lectures",
                        ignore=shutil.ignore_patterns("*.md", ".*"))
    for lesson in lessons:
        if lesson.lecture is not None:
            page = f"lectures/{lesson.lecture.name}"
            text = linker.rewrite(lesson.lecture.read_text(encoding="utf-8"), lesson.lecture,
                                  page)
            (src_dir / page).write_text(text, encoding="utf-8")
        if lesson.name is not None and lesson.notebook is not None:
            page = f"notebooks/{lesson.name}.ipynb"
            notebook = _notebook_page(lesson.notebook, lesson, linker, page,
                                      f"results-{lesson.key}")
            _write_json(src_dir / page, notebook)
        if lesson.exercise is not None:
            page = f"exercises/{lesson.name}.ipynb"
            _write_json(src_dir / page, _exercise_page(lesson.exercise, linker, page))
    (src_dir / "index.md").write_text(_index_page(lessons, pages), encoding="utf-8")
    (src_dir / "results.md").write_text(_results_page(lessons, summary, pages) + "\n",
                                        encoding="utf-8")
    (src_dir / "_static").mkdir()
    (src_dir / "_static" / "favicon.svg").write_text(FAVICON_SVG, encoding="utf-8")
    (src_dir / "_config.yml").write_text(_config_yaml(BOOK_TITLE), encoding="utf-8")
    (src_dir / "_toc.yml").write_text(_toc_yaml(lessons, pages), encoding="utf-8")
    written = ["index.md", *sorted(set(pages.values())), "results.md"]
    return written, linker.unlinked


def _write_json(path: Path, notebook: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def build_book(out_dir: Path | None = None, *, prefer: str = "run",
               src_dir: Path | None = None, lessons_dir: Path | None = None,
               summary_path: Path | None = None, timeout_s: int = 600) -> BookReport:
    """Generate the book's sources and build the website with warnings as errors.

    Parameters
    ----------
    out_dir:
        Where the website goes (default ``build/book``; replaced).
    prefer:
        ``"run"``: the last ``make lessons`` run in full mode first; ``"stored"``: the
        outputs stored in ``notebooks/*.ipynb`` first (see :func:`choose_notebook`).
    src_dir:
        Where the generated sources go (default ``build/book-src``; replaced).
    lessons_dir, summary_path:
        The ``make lessons`` outputs (default ``build/lessons`` and its ``summary.json``).

    Raises
    ------
    BookError
        When Sphinx reports a warning or an error (its messages are in the exception).
    """
    start = time.perf_counter()
    build = config.build_dir()
    out_dir = Path(out_dir or build / "book").resolve()
    src_dir = Path(src_dir or build / "book-src").resolve()
    lessons_dir = Path(lessons_dir or build / "lessons")
    _check_replaceable(out_dir)
    summary = _read_json(Path(summary_path or lessons_dir / "summary.json"))
    lessons = plan_lessons(prefer=prefer, lessons_dir=lessons_dir, summary=summary)
    if not lessons:
        raise BookError(f"No lessons found under {config.project_root()}: the book needs "
                        "lectures/NN-*.md or notebooks/NN_*.py.")
    pages, unlinked = write_sources(lessons, src_dir, summary=summary)
    doctrees = src_dir / "_doctrees"
    tmp_out = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(tmp_out, ignore_errors=True)
    proc = subprocess.run(
        [sys.executable, "-m", "mlops_course.course.book", str(src_dir), str(tmp_out),
         str(doctrees)],
        capture_output=True, text=True, timeout=timeout_s, check=False,
        cwd=str(src_dir))
    if proc.returncode != 0 or not (tmp_out / "index.html").is_file():
        shutil.rmtree(tmp_out, ignore_errors=True)
        problems = [line for line in (proc.stderr + proc.stdout).splitlines()
                    if "WARNING" in line or "ERROR" in line or "Error" in line]
        shown = "\n".join(problems[-30:]) or (proc.stderr + proc.stdout)[-3000:]
        raise BookError(f"The book did not build (Sphinx, warnings are errors); sources in "
                        f"{_relative(src_dir)}:\n{shown}\nFix the page named above, then run "
                        "`make book` again.")
    (tmp_out / MARKER).write_text("Written by `mlops-course book`; the next build replaces "
                                  "this folder.\n", encoding="utf-8")
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp_out.rename(out_dir)
    (out_dir / ".buildinfo").unlink(missing_ok=True)
    report = BookReport(out_dir, src_dir, lessons, pages, unlinked,
                        round(time.perf_counter() - start, 1))
    return report


def _sphinx(src_dir: str, out_dir: str, doctrees: str) -> int:
    """Run Jupyter Book's Sphinx build (in its own process: Sphinx keeps global state)."""
    from jupyter_book.sphinx import build_sphinx

    result = build_sphinx(src_dir, out_dir, path_config=str(Path(src_dir) / "_config.yml"),
                          doctreedir=doctrees, warningiserror=True, keep_going=True, noconfig=True,
                          confoverrides={"latex_individualpages": False},
                          freshenv=True, quiet=True, builder="html")
    if isinstance(result, Exception):
        print(f"ERROR: {type(result).__name__}: {result}", file=sys.stderr)
        return 1
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(_sphinx(*sys.argv[1:4]))
