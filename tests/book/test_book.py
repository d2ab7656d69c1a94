"""The course book (``make book``): built with warnings as errors and read in a real browser.

To keep ``make test`` within its budget no lesson is executed here: the book is built
from the outputs already stored with the course (``notebooks/*.ipynb``, written by ``make
outputs``; a lesson without stored outputs shows the last ``make lessons`` run, flagged
when it was fast), into a temporary folder. ``make book`` prefers the last full-mode
``make lessons`` run instead; the choice is tested below without building.

The browser test serves the built site on 127.0.0.1 and drives Debian's headless Chromium
through Playwright: every page answers 200, every image loads, tables and math are there,
the navigation and every internal link lead to a page (and anchor) that exists, no console
error, and no request leaves 127.0.0.1 (each is aborted and fails the test). Screenshots
of a few pages are kept in ``build/book-screenshots/``. Without Chromium the browser test
skips with the install command; with ``CI=true`` it fails instead.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import pickle
import re
import shutil
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urldefrag, urlparse

import pytest

from mlops_course import config
from mlops_course.course import book
from mlops_course.course.lessons import discover

ROOT = config.project_root()
IN_CI = os.environ.get("CI", "").lower() == "true"
# Debian's chromium (what .ci/run installs); GitHub's Ubuntu runners also have Chrome
CHROMIUM = os.environ.get("MLOPS_COURSE_CHROMIUM") or next(
    (found for name in ("chromium", "chromium-browser", "google-chrome")
     if (found := shutil.which(name))), "/usr/bin/chromium")
SCREENSHOTS = ROOT / "build" / "book-screenshots"
LECTURE_1 = ROOT / "lectures" / "01-ml-systems.md"


# --------------------------------------------------------------------------- no build
def _notebook(fast: bool | None, *, error: bool = False) -> dict:
    output = ({"output_type": "error", "ename": "E", "evalue": "", "traceback": []} if error
              else {"output_type": "stream", "name": "stdout", "text": "ok\n"})
    meta = {} if fast is None else {"papermill": {"parameters": {"FAST": fast}}}
    return {"cells": [{"cell_type": "code", "source": "", "metadata": {}, "outputs": [output],
                       "execution_count": 1}], "metadata": meta, "nbformat": 4,
            "nbformat_minor": 5}


@pytest.mark.parametrize(("run", "prefer", "expected"), [
    ({"fast": False}, "run", ("run", False)),          # the last full run first
    ({"fast": True}, "run", ("stored", False)),        # a fast run loses to stored outputs
    ({"fast": False, "error": True}, "run", ("stored", False)),  # a failed run is never shown
    ({"fast": False}, "stored", ("stored", False)),    # what the browser test builds from
    (None, "run", ("stored", False)),
])
def test_which_run_a_notebook_page_shows(tmp_path: Path, run, prefer, expected) -> None:
    name = "01_traditional_workflow"
    if run is not None:
        (tmp_path / f"{name}.ipynb").write_text(json.dumps(
            _notebook(run["fast"], error=run.get("error", False))))
    source = book.choose_notebook(name, prefer=prefer, lessons_dir=tmp_path)
    assert (source.origin, source.fast) == expected
    assert "full mode" in source.describe()


def test_a_fast_run_is_shown_only_without_stored_outputs_and_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lesson = discover()[0]
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    shutil.copy(lesson.path, notebooks / lesson.path.name)  # no stored .ipynb
    monkeypatch.setattr(config, "notebooks_dir", lambda: notebooks)
    runs = tmp_path / "lessons"
    runs.mkdir()
    (runs / f"{lesson.name}.ipynb").write_text(json.dumps(_notebook(True)))
    source = book.choose_notebook(lesson.name, lessons_dir=runs)
    assert (source.origin, source.fast) == ("run", True)
    assert "**fast mode**" in source.describe()
    (runs / f"{lesson.name}.ipynb").unlink()
    assert book.choose_notebook(lesson.name, lessons_dir=runs).origin == "none"


def test_a_notebook_page_names_its_run_and_strips_the_metrics_mime(tmp_path: Path) -> None:
    name = discover()[0].name
    run = _notebook(False)
    run["cells"][0]["outputs"].append({"output_type": "display_data", "metadata": {}, "data": {
        "application/vnd.mlops-course.metrics+json": {"test_rmse_usd": 48976.0},
        "text/plain": "test_rmse_usd  4.898e+04"}})
    title = "# Lesson 1 — title\n\nSee [L4](../lectures/04-versioning.md)."
    run["cells"].insert(0, {"cell_type": "markdown", "metadata": {}, "source": title})
    (tmp_path / f"{name}.ipynb").write_text(json.dumps(run))
    summary = {"mode": "full", "machine": "Linux x86_64, 2 CPUs", "finished_utc":
               "2026-11-30T00:14:54+00:00",
               "lessons": [{"name": name, "status": "ok", "seconds": 41.3, "fast": False}]}
    lesson = book.plan_lessons(lessons_dir=tmp_path, summary=summary)[0]
    linker = book._Linker(ROOT, {"lectures/04-versioning.md": "lectures/04-versioning.md"})
    page = book._notebook_page(lesson.notebook, lesson, linker, f"notebooks/{name}.ipynb",
                               "results-01")
    first = page["cells"][0]["source"]
    assert first.startswith("# Lesson 1 — title\n")
    assert "(finished 2026-11-30 00:14 UTC), in **full mode**" in first
    assert "It took 41 s on Linux x86_64, 2 CPUs." in first
    assert "[L4](../lectures/04-versioning.md)" in first
    outputs = page["cells"][1]["outputs"]
    assert all("application/vnd.mlops-course.metrics+json" not in o.get("data", {})
               for o in outputs) and outputs[-1]["data"]["text/plain"]
    assert book._results_page([lesson], summary, {f"notebooks/{name}.ipynb":
                                                  f"notebooks/{name}.ipynb"}).count("48,976") == 1


def test_the_table_of_contents_follows_the_lessons_that_exist() -> None:
    lessons = book.plan_lessons(prefer="stored")
    numbers = sorted({lesson.number for lesson in discover()}
                     | {int(p.name[:2]) for p in (ROOT / "lectures").glob("[0-9][0-9]-*.md")})
    assert [lesson.number for lesson in lessons] == numbers
    for lesson in lessons:
        assert lesson.lecture is None or lesson.lecture.name.startswith(lesson.key)
        if lesson.exercise is not None:
            assert lesson.exercise.name == f"{lesson.name}.ipynb"


def _table(text: str, header: str) -> list[list[str]]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def test_lecture_1_links_every_lesson_of_its_tables() -> None:
    """The course map and the "fixed in" column link each lesson's lecture; the links are
    relative (they work on GitHub) and name a lecture of the checkout or one being written
    (lessons 3 and 11: the book shows those as plain text until the file lands)."""
    text = LECTURE_1.read_text(encoding="utf-8")
    link = re.compile(r"\[[^\]]+\]\((\d{2}-[a-z0-9-]+\.md)\)")
    course_map = _table(text, "| # | lesson |")
    numbers = [int(row[0]) for row in course_map]
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 11
    assert "Scaling out (Dask)" in course_map[10][1]
    fixed_in = [row[-1] for row in _table(text, "| stage | problem |")]
    targets = {}
    for cell in [row[1] for row in course_map] + fixed_in:
        found = link.findall(cell)
        assert found, f"no lesson link in {cell!r}"
        targets.update({name[:2]: name for name in found})
    assert set(targets) >= {"03", "04", "05", "08", "09", "10", "11"}
    for number, name in targets.items():
        existing = sorted((ROOT / "lectures").glob(f"{number}-*.md"))
        assert not existing or existing[0].name == name, f"{name} is {existing[0].name}"


def test_links_map_to_book_pages(tmp_path: Path) -> None:
    pages = {"lectures/04-versioning.md": "lectures/04-versioning.md",
             "notebooks/04_versioning_dvc.ipynb": "notebooks/04_versioning_dvc.ipynb",
             "notebooks/04_versioning_dvc.py": "notebooks/04_versioning_dvc.ipynb"}
    linker = book._Linker(ROOT, pages)
    source = ROOT / "lectures" / "01-ml-systems.md"
    text = ("[L4](04-versioning.md#the-problem) [nb](../notebooks/04_versioning_dvc.py) "
            "[L99](99-nothing-yet.md) [make](../Makefile) [web](https://example.org) "
            "[broken](no-such-file.txt)\n```\n[kept](../Makefile)\n```")
    out = linker.rewrite(text, source, "lectures/01-ml-systems.md")
    assert "[L4](04-versioning.md#the-problem)" in out
    assert "[nb](../notebooks/04_versioning_dvc.ipynb)" in out
    assert "L99 " in out and "99-nothing" not in out and "99-nothing-yet.md" in linker.unlinked[0]
    assert "make (`Makefile`)" in out and "[web](https://example.org)" in out
    assert "[broken](no-such-file.txt)" in out  # left for Sphinx (-W) to fail on
    assert "[kept](../Makefile)" in out  # code blocks are not touched


def test_the_build_never_replaces_a_folder_it_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("someone's work")
    with pytest.raises(book.BookError, match="not written by `mlops-course book`"):
        book.build_book(tmp_path, src_dir=tmp_path.parent / f"{tmp_path.name}-src")
    assert (tmp_path / "notes.txt").read_text() == "someone's work"


# --------------------------------------------------------------------------- the build
@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> book.BookReport:
    """The book built from the stored outputs into a temporary folder (see the module
    docstring); -W: any Sphinx warning fails here. Under pytest-xdist the workers share
    one build (a lock file; the first worker builds, the others wait and reuse it)."""
    if worker_id == "master":
        return _build(tmp_path_factory.mktemp("book"))
    shared = tmp_path_factory.getbasetemp().parent / "course-book"
    shared.mkdir(exist_ok=True)
    with open(shared / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if (shared / "report.pickle").is_file():
                return pickle.loads((shared / "report.pickle").read_bytes())
            report = _build(shared)
            (shared / "report.pickle").write_bytes(pickle.dumps(report))
            return report
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _build(folder: Path) -> book.BookReport:
    report = book.build_book(folder / "html", prefer="stored", src_dir=folder / "src")
    print(f"\nbook built in {report.seconds:.1f} s\n{report.format()}")
    return report


def test_the_book_builds_with_every_lesson_in_order(built: book.BookReport) -> None:
    out = built.out_dir
    for lesson in built.lessons:
        if lesson.lecture is not None:
            assert (out / "lectures" / f"{lesson.lecture.stem}.html").is_file()
        if lesson.name is not None:
            html = (out / "notebooks" / f"{lesson.name}.html").read_text(encoding="utf-8")
            assert "Which run this page shows" in html
        if lesson.exercise is not None:
            html = (out / "exercises" / f"{lesson.name}.html").read_text(encoding="utf-8")
            assert "YOUR CODE HERE" in html and 'class="cell_output' not in html
    # "$48,976 and $55,000" is money: no page typesets an amount of dollars as math
    math = re.compile(r'class="math[^"]*">\\\((.*?)\\\)</span>', re.S)
    money = [(p.name, m[:50]) for p in out.rglob("*.html")
             for m in math.findall(p.read_text(encoding="utf-8")) if re.match(r"\d", m)]
    assert not money, f"dollar amounts typeset as math: {money[:5]}"
    results = (out / "results.html").read_text(encoding="utf-8")
    assert "test_rmse_usd" in results
    assert (out / "_static" / "mathjax" / "tex-chtml.js").is_file()  # math without a CDN
    assert not (out / ".buildinfo").exists()


PAGE_FACTS = """() => ({
    lazy: Array.from(document.images).some(i => i.loading === 'lazy' && !i.complete),
    broken: Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0)
        .map(i => i.getAttribute('src')),
    no_alt: Array.from(document.querySelectorAll('main img'))
        .filter(i => !(i.getAttribute('alt') || '').trim()).map(i => i.getAttribute('src')),
    math: document.querySelectorAll('main .math').length,
    ids: Array.from(document.querySelectorAll('[id]')).map(e => e.id),
    hrefs: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
    next: (document.querySelector('a.right-next') || {}).href || null,
    tables: document.querySelectorAll('main table').length,
    first_table_links: (document.querySelector('main table') || document.body)
        .querySelectorAll('a').length,
    typeset: document.querySelectorAll('main mjx-container').length,
})"""


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # noqa: ANN002
        pass


@pytest.fixture(scope="module")
def site(built: book.BookReport):
    """The built book served over HTTP on 127.0.0.1 (stopped after the module)."""
    handler = functools.partial(_QuietHandler, directory=str(built.out_dir))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """The Chromium binary, checked before the book is built (a skip costs nothing)."""
    if not Path(CHROMIUM).is_file():
        message = ("no Chromium: install Debian's `chromium` (apt-get install chromium) or "
                   "name a Chromium or Chrome binary in MLOPS_COURSE_CHROMIUM; Playwright "
                   "cannot download its own browsers offline")
        if IN_CI:
            pytest.fail(f"CI=true but {message}")
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="module")
def browser(chromium_path: str):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path, headless=True,
                                              args=["--no-sandbox", "--disable-gpu"])
        try:
            yield chromium
        finally:
            chromium.close()


def test_every_page_in_a_real_browser(chromium_path: str, browser, built: book.BookReport,
                                      site: str) -> None:
    out = built.out_dir
    pages = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.html")
                   if not p.relative_to(out).as_posix().startswith(("_static/", "_sources/")))
    assert "index.html" in pages and "results.html" in pages
    host = urlparse(site).netloc
    blocked: list[str] = []
    console: list[str] = []

    def route(route) -> None:  # noqa: ANN001
        url = route.request.url
        if urlparse(url).scheme in ("data", "blob") or urlparse(url).netloc == host:
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    context = browser.new_context(viewport={"width": 1280, "height": 900},
                                  service_workers="block")
    context.route("**/*", route)
    context.route_web_socket(re.compile(".*"), lambda ws: blocked.append(ws.url) or ws.close())
    page = context.new_page()
    attempt: list[str] = []  # this load's console errors and failed requests
    page.on("console", lambda m: m.type == "error" and attempt.append(m.text))
    page.on("pageerror", lambda e: attempt.append(str(e)))
    page.on("requestfailed", lambda r: None if r.url.endswith("favicon.svg") and "ABORTED" in (
        r.failure or "") else attempt.append(f"{r.url}: {r.failure}"))  # the next page's load
    # cancels a favicon still in flight: not an error
    links: dict[str, set[str]] = {}  # page -> internal targets (with anchors)
    ids: dict[str, set[str]] = {}
    following: dict[str, str | None] = {}  # page -> its "next" button's target
    facts: dict[str, dict] = {}
    problems = []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shots = {"index.html", "results.html", "lectures/01-ml-systems.html",
             f"notebooks/{built.lessons[0].name}.html"}
    start = time.perf_counter()

    def load(name: str):  # noqa: ANN202
        """Load a page; again (up to 3 times) when the host's network changed under
        Chromium (containers started by other tests do that), never for another error."""
        for _ in range(3):
            attempt.clear()
            response = page.goto(site + name, wait_until="load")
            if not any("ERR_NETWORK_CHANGED" in a for a in attempt):
                break
        console.extend(f"{name}: {a}" for a in attempt)
        return response

    for name in pages:
        response = load(name)
        if response is None or response.status != 200:
            problems.append(f"{name}: HTTP {response and response.status}")
            continue
        seen = page.evaluate(PAGE_FACTS)
        if seen["lazy"]:  # images below the fold: bring them in, then wait for them
            page.evaluate("() => document.querySelectorAll('img')"
                          ".forEach(i => { i.loading = 'eager'; })")
            page.wait_for_function("() => Array.from(document.images).every(i => i.complete)",
                                   polling=100, timeout=15_000)
            seen = page.evaluate(PAGE_FACTS)
        problems += [f"{name}: image did not load: {src}" for src in seen["broken"]]
        problems += [f"{name}: image without alt text: {src}" for src in seen["no_alt"]]
        if seen["math"]:
            try:
                page.wait_for_selector("main mjx-container", timeout=15_000)
                seen = page.evaluate(PAGE_FACTS)
            except Exception:  # noqa: BLE001 - reported below with the page name
                problems.append(f"{name}: math present but MathJax did not typeset it")
        facts[name] = seen
        ids[name] = set(seen["ids"])
        links[name] = {h for h in seen["hrefs"] if urlparse(h).netloc == host}
        following[name] = seen["next"]
        if name in shots:
            path = SCREENSHOTS / (name.replace("/", "__").removesuffix(".html") + ".png")
            page.screenshot(path=str(path), full_page=False)
            if name.startswith("notebooks/") and page.locator("main img").count():
                page.locator("main img").first.scroll_into_view_if_needed()
                page.screenshot(path=str(path.with_name(path.stem + "__figure.png")))
    browse_s = time.perf_counter() - start
    print(f"\n{len(pages)} pages browsed in {browse_s:.1f} s")

    # every internal link leads to a page that loaded, and to an anchor that exists there
    for name, targets in links.items():
        for target in targets:
            url, fragment = urldefrag(target)
            rel = urlparse(url).path.lstrip("/") or "index.html"
            rel = rel + "index.html" if rel.endswith("/") else rel
            if rel.endswith(".html"):
                if rel not in ids:
                    problems.append(f"{name}: link to a missing page {rel}")
                elif fragment and fragment not in ids[rel]:
                    problems.append(f"{name}: link to a missing anchor {rel}#{fragment}")
            elif not (out / rel).is_file():
                problems.append(f"{name}: link to a missing file {rel}")

    # tables and math where the course has them
    lecture_1 = facts["lectures/01-ml-systems.html"]
    assert lecture_1["tables"] >= 5
    rows = _table(LECTURE_1.read_text(encoding="utf-8"), "| # | lesson |")
    written = [row for row in rows if any((ROOT / "lectures").glob(f"{int(row[0]):02d}-*.md"))]
    assert lecture_1["first_table_links"] == len(written) >= 9, \
        "lecture 1's course map links every lesson whose lecture exists"
    assert facts["results.html"]["tables"] >= 2
    assert facts["results.html"]["typeset"] >= 2, "MathJax (local) typeset the results' math"

    # the navigation follows the course: lecture, notebook, exercise, next lecture
    load("index.html")
    expected = []
    for lesson in built.lessons:
        if lesson.lecture is not None:
            expected.append(f"lectures/{lesson.lecture.stem}.html")
        if lesson.name is not None:
            expected.append(f"notebooks/{lesson.name}.html")
        if lesson.exercise is not None:
            expected.append(f"exercises/{lesson.name}.html")
    chain, name = [], "index.html"
    while following.get(name) and len(chain) <= len(expected):
        name = urlparse(following[name]).path.lstrip("/")
        chain.append(name)
    assert chain[:len(expected)] == expected, "the next buttons do not follow the course"
    visited = []
    for _ in range(4):  # and the buttons work when clicked
        attempt.clear()
        page.locator("a.right-next").first.click()  # the "next" button at a page's foot
        page.wait_for_load_state("load")
        here = urlparse(page.url).path.lstrip("/")
        if any("ERR_NETWORK_CHANGED" in a for a in attempt):
            load(here)
        visited.append(here)
    assert visited == expected[:4]
    context.close()

    print(f"links, tables, math and navigation checked in "
          f"{time.perf_counter() - start - browse_s:.1f} s; screenshots in {SCREENSHOTS}")
    assert not blocked, f"requests that left 127.0.0.1 (aborted): {sorted(set(blocked))[:10]}"
    assert not console, f"console errors: {console[:10]}"
    assert not problems, "\n".join(problems[:30])
    for shot in SCREENSHOTS.glob("*.png"):
        assert shot.stat().st_size > 10_000 and shot.read_bytes()[:4] == b"\x89PNG"
