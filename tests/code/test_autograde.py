"""The autograder's parts: reading submissions, the gradebook files, the sandbox and its
step protocol, the ``grade`` command. The full corpus lives in tests/grading/."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import nbformat
import pytest
from nbformat import v4

from mlops_course import cli
from mlops_course.course.autograde import Limits, Sandbox, grade_answers, run_submission
from mlops_course.course.autograde.core import TestOutcome, outcomes_from_report
from mlops_course.course.autograde.gradebook import (
    SubmissionResult,
    feedback_markdown,
    gradebook_csv,
)
from mlops_course.course.autograde.sandbox import StepFailure
from mlops_course.course.autograde.submissions import (
    SubmissionFile,
    find_submissions,
    match_answers,
    read_submission,
)
from mlops_course.course.autograde.warm import WarmZygotes
from mlops_course.course.autograde.worker import plain
from mlops_course.course.exercises import load_exercise

TINY = '''# %%
BASE = 10

# %% tags=["solution"] grade_id="add"
def add(a, b):
    ### BEGIN SOLUTION
    return a + b
    ### END SOLUTION

# %% tags=["solution"] grade_id="mul"
def mul(a, b):
    ### BEGIN SOLUTION
    return a * b
    ### END SOLUTION

# %% tags=["test"] grade_id="test_add" points=1
def probe():
    return add(2, 3)

def verify(observed):
    assert observed == 5, f"2 + 3 should be 5, got {observed}"

verify(probe())

# %% tags=["test"] grade_id="hidden_add" points=2
### BEGIN HIDDEN TESTS
def probe():
    return add(BASE, -3)

def verify(observed):
    assert observed == 7, "SECRET-EXPECTATION"

verify(probe())
### END HIDDEN TESTS

# %% tags=["test"] grade_id="test_mul" points=1
def probe():
    return mul(4, 5)

def verify(observed):
    assert observed == 20, f"4 * 5 should be 20, got {observed}"

verify(probe())
'''
FAST = Limits(timeout_s=20, step_timeout_s=1.5, memory_mb=512)


@pytest.fixture
def tiny(tmp_path: Path):  # noqa: ANN201
    path = tmp_path / "99_tiny.py"
    path.write_text(TINY)
    return load_exercise(path)


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    return Sandbox.detect(FAST)


def _notebook(cells: list[tuple[str, dict]]) -> str:
    nb = v4.new_notebook(cells=[v4.new_code_cell(src, metadata=meta) for src, meta in cells])
    return nbformat.writes(nb)


# ------------------------------------------------------------------ the worker's data

def test_plain_keeps_data_and_refuses_objects() -> None:
    import numpy as np

    assert plain({"a": (1, np.float64(2.5), np.arange(2)), 3: None}) == {
        "a": [1, 2.5, [0, 1]], "3": None}
    assert plain([float("inf")]) == ["inf"]
    with pytest.raises(TypeError, match="not plain data"):
        plain(object())
    nested: list = []
    for _ in range(200):
        nested = [nested]
    with pytest.raises(TypeError, match="nested"):
        plain(nested)


# ------------------------------------------------------------------ submissions

def test_find_submissions_ids_folders_and_conflicts(tmp_path: Path) -> None:
    for name in ("alice.ipynb", "bob.py", "bob.ipynb", "notes.txt", ".hidden.ipynb"):
        (tmp_path / name).write_text("{}")
    (tmp_path / "carol").mkdir()
    (tmp_path / "carol" / "work.ipynb").write_text("{}")
    (tmp_path / "dave").mkdir()
    (tmp_path / "dave" / "a.ipynb").write_text("{}")
    (tmp_path / "dave" / "b.ipynb").write_text("{}")
    (tmp_path / "out").mkdir()
    found, ignored = find_submissions(tmp_path, exclude=(tmp_path / "out",))
    assert [(f.student, f.problem is None) for f in found] == [
        ("alice", True), ("bob", False), ("carol", True), ("dave", False)]
    assert "2 submissions for 'bob'" in found[1].problem
    assert found[2].path.name == "work.ipynb"
    assert "exactly one notebook" in found[3].problem
    assert ignored == ["notes.txt"]
    with pytest.raises(FileNotFoundError, match="Fix: pass the folder"):
        find_submissions(tmp_path / "nope")


@pytest.mark.parametrize(("content", "problem"), [
    (b"", "empty"),
    (b"{not json", "not JSON"),
    (b'{"worksheets": []}', "format 3"),
    (b"[1, 2]", "no list of cells"),
    (b"\xff\xfe" * 10, "not JSON"),
    (b"[" * 100_000, "not JSON"),
])
def test_unreadable_notebooks_say_why(tmp_path: Path, tiny, content: bytes,  # noqa: ANN001
                                      problem: str) -> None:
    path = tmp_path / "x.ipynb"
    path.write_bytes(content)
    submission = read_submission(SubmissionFile("x", path), tiny)
    assert problem in submission.problem


def test_too_large_submission_is_not_read(tmp_path: Path, tiny) -> None:  # noqa: ANN001
    path = tmp_path / "big.py"
    path.write_text("# %%\n" + "x = 1\n" * 1000)
    submission = read_submission(SubmissionFile("big", path), tiny, max_bytes=100)
    assert "limit: clear the outputs" in submission.problem and submission.sha256 is None


def test_answers_match_by_grade_id_then_by_order(tiny) -> None:  # noqa: ANN001
    def cell(source: str, **meta: object) -> dict:
        return {"cell_type": "code", "source": source, "metadata": meta}

    answers, notes = match_answers([
        cell("x = 1"), cell("def mul(a, b): return 0", grade_id="mul"),
        cell("def add(a, b): return a + b", grade_id="add", tags="solution"),
        cell("def add(a, b): return 0", grade_id="add"),
        cell("junk", grade_id=["not", "a", "string"])], tiny)
    assert answers == {"add": "def add(a, b): return a + b", "mul": "def mul(a, b): return 0"}
    assert notes == ["answer cell 'add' appears more than once; the first was graded"]

    answers, notes = match_answers([cell("A", tags=["solution"]), cell("x = 2"),
                                    cell("M", tags=["solution"])], tiny)
    assert answers == {"add": "A", "mul": "M"} and "by their order" in notes[0]

    answers, notes = match_answers([cell("def add(a, b): return 1", grade_id="add")], tiny)
    assert notes == ["answer cell(s) not found: mul (deleted?)"]

    _, notes = match_answers([cell(src, grade_id=g) for g, src in tiny.answers.items()], tiny)
    assert notes == ["the answers are the model solution, word for word"]


def test_py_percent_submission(tmp_path: Path, tiny) -> None:  # noqa: ANN001
    path = tmp_path / "eve.py"
    path.write_text('# %% tags=["solution"] grade_id="add"\ndef add(a, b):\n    return b + a\n')
    submission = read_submission(SubmissionFile("eve", path), tiny)
    assert submission.answers == {"add": "def add(a, b):\n    return b + a"}
    assert submission.problem is None and len(submission.sha256) == 64


# ------------------------------------------------------------------ gradebook files

def _result(student: str, **changes: object) -> SubmissionResult:
    tests = [TestOutcome("test_add", 1.0, 1.0, "pass", "", False),
             TestOutcome("hidden_add", 0.0, 2.0, "fail", "SECRET-EXPECTATION", True),
             TestOutcome("test_mul", 0.0, 1.0, "error", "ZeroDivisionError: boom", False)]
    fields = dict(student=student, exercise="99_tiny", submission=f"{student}.py",
                  submission_sha256="0" * 64, fingerprint="f", status="ok", total=1.0,
                  max_points=4.0, needs_review=False, tests=tests)
    fields.update(changes)
    return SubmissionResult(**fields)


def test_gradebook_csv_sorted_plain_and_spreadsheet_safe(tiny) -> None:  # noqa: ANN001
    text = gradebook_csv(tiny, [_result("zoe"), _result("=HYPERLINK(x)", needs_review=True)])
    assert text.splitlines() == [
        "student,total,max,status,needs_review,test_add,hidden_add,test_mul",
        "'=HYPERLINK(x),1,4,ok,yes,1,0,0",
        "zoe,1,4,ok,no,1,0,0"]


def test_feedback_shows_public_messages_and_hides_hidden_ones() -> None:
    text = feedback_markdown(_result("zoe", cells=[
        {"cell": "mul", "status": "error", "message": "```` injected fence"}]))
    assert "Score: **1 / 4** points." in text
    assert "| hidden_add (hidden) | 0 / 2 | not passed |" in text
    assert "SECRET-EXPECTATION" not in text
    assert "ZeroDivisionError: boom" in text and "```` injected" not in text


def test_result_json_round_trip() -> None:
    result = _result("zoe", review=["look"], cells=[{"cell": "a", "status": "error",
                                                      "message": "m"}])
    data = json.loads(json.dumps(result.to_dict()))
    assert "seconds" not in data and "launches" not in data  # no timings: reproducible
    back = SubmissionResult.from_dict(data)
    assert back == result and back.resumed


# ------------------------------------------------------------------ sandbox and steps

def test_limits_are_checked_and_shared_out() -> None:
    with pytest.raises(ValueError, match="timeout_s must be positive"):
        Limits(timeout_s=0)
    with pytest.raises(ValueError, match="too small to start Python"):
        Limits(memory_mb=100)
    assert Limits(timeout_s=120).step_budget_s(11) == 10
    assert Limits(timeout_s=5).step_budget_s(11) == 1  # never below one second
    assert Limits(timeout_s=120, step_timeout_s=7).step_budget_s(11) == 7
    with pytest.raises(ValueError, match="unknown sandbox mode"):
        Sandbox("docker")


def test_one_endless_probe_loses_only_its_test(tiny, sandbox: Sandbox) -> None:  # noqa: ANN001
    answers = {"add": "def add(a, b):\n    while a == 10:\n        pass\n    return a + b\n",
               "mul": tiny.answers["mul"]}
    report = run_submission(tiny, answers, sandbox=sandbox)
    outcomes = {o.grade_id: o for o in outcomes_from_report(tiny, report)}
    assert [outcomes[g].status for g in ("test_add", "hidden_add", "test_mul")] == [
        "pass", "timeout", "pass"]
    assert "took longer than 1.5 s" in outcomes["hidden_add"].message
    # public tests in one child; the hidden one in another, stopped; one sandbox for all
    assert (report.launches, report.children) == (1, 2)


def test_a_crashing_cell_loses_only_its_part(tiny, sandbox: Sandbox) -> None:  # noqa: ANN001
    answers = {"add": "import os\nos._exit(7)\n", "mul": tiny.answers["mul"]}
    report = run_submission(tiny, answers, sandbox=sandbox)
    assert [(c.label, c.status) for c in report.cells if c.status != "ok"] == [
        ("answer add", "crashed")]
    assert "exit code 7" in report.cells[1].message
    statuses = [o.status for o in outcomes_from_report(tiny, report)]
    assert statuses == ["error", "error", "pass"]


def test_forged_answers_are_counted_not_believed(tiny, sandbox: Sandbox) -> None:  # noqa: ANN001
    forge = ("import json, os\nfor fd in range(3, 40):\n    try:\n"
             "        os.write(fd, json.dumps({'token': 'x', 'status': 'ok', 'value': 5})"
             ".encode() + b'\\n')\n    except OSError:\n        pass\n")
    report = run_submission(tiny, {"add": forge}, sandbox=sandbox)
    assert report.stray_lines >= 1
    assert [o.status for o in outcomes_from_report(tiny, report)] == ["error"] * 3


def test_grade_answers_keeps_its_signature(tiny) -> None:  # noqa: ANN001
    outcomes = grade_answers(tiny, tiny.answers, timeout_s=30)
    assert [(o.grade_id, o.status, o.points) for o in outcomes] == [
        ("test_add", "pass", 1.0), ("hidden_add", "pass", 2.0), ("test_mul", "pass", 1.0)]


def test_limits_only_mode_still_grades_and_says_it_is_degraded(tiny) -> None:  # noqa: ANN001
    weak = Sandbox.detect(FAST, modes=("limits",))
    assert weak.mode == "limits" and "degraded: limits only" in weak.describe()
    outcomes = outcomes_from_report(tiny, run_submission(tiny, tiny.answers, sandbox=weak))
    assert [o.status for o in outcomes] == ["pass"] * 3


def test_describe_names_the_layers(sandbox: Sandbox) -> None:
    text = sandbox.describe()
    assert text.startswith(f"sandbox: {sandbox.mode} (") and "512 MB memory" in text
    if sandbox.mode == "namespaces":
        assert "network, mount and PID namespaces" in text


# ------------------------------------------------------------------ the command

def test_grade_command_errors_say_how_to_fix(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["grade", "nope", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "Known: 01_traditional_workflow" in capsys.readouterr().err
    assert cli.main(["grade", "01", str(tmp_path / "missing"), "--out", str(tmp_path)]) == 2
    assert "does not exist. Fix:" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["grade", "01", str(tmp_path), "--out", str(tmp_path), "--timeout", "-1"])


def test_grade_command_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exercise = load_exercise("01_traditional_workflow")
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    (submissions / "model.py").write_bytes(exercise.path.read_bytes())
    (submissions / "broken.ipynb").write_text("{")
    out = tmp_path / "out"
    assert cli.main(["grade", "01", str(submissions), "--out", str(out), "--jobs", "2",
                     "--timeout", "60", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "Graded 2 submission(s) of 01_traditional_workflow" in printed
    assert "submissions: ok 1, unreadable 1" in printed and "sandbox: " in printed
    assert "needs review (2): broken, model" in printed  # model: identical to the key
    rows = (out / "grades.csv").read_text().splitlines()
    assert rows[1].startswith("broken,0,8,unreadable,yes,")
    assert rows[2].startswith("model,8,8,ok,yes,")
    assert sorted(p.name for p in out.iterdir()) == [
        "broken.json", "broken.md", "grades.csv", "model.json", "model.md"]


# ------------------------------------------------------------ warm zygotes (issue #14)

def _corpus_attacks() -> tuple[str, str]:
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "grading" / "make_corpus.py"
    spec = importlib.util.spec_from_file_location("make_corpus", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.WARM_LEAVE, module.WARM_SEEK


def _pidns(sandbox: Sandbox) -> None:
    if not WarmZygotes.reusable(sandbox):
        reason = f"warm zygotes need a PID namespace; here: {sandbox.describe()}"
        if os.environ.get("CI") == "true":  # CI runs as root where unshare works
            pytest.fail(reason)
        pytest.skip(reason)


def test_a_warm_sandbox_is_reused_and_passes_nothing_on(tiny, sandbox: Sandbox) -> None:  # noqa: ANN001
    """Submission A leaves files in /tmp, /dev/shm and its folder, System V shared memory,
    a semaphore set and a message queue, and a hiding process; B, graded next in the same
    warm sandbox, finds none of them. When A also renices and limits the warm zygote,
    that zygote is replaced by a fresh one, and B still finds nothing."""
    _pidns(sandbox)
    leave, seek = _corpus_attacks()
    polite = leave.replace("for pid in ABOVE:", "for pid in []:")
    add = tiny.answers["add"]

    def graded(code: str, zygotes: WarmZygotes) -> list[str]:
        report = run_submission(tiny, {"add": code + "\n\n" + add, "mul": tiny.answers["mul"]},
                                sandbox=sandbox, zygotes=zygotes)
        return [f"{o.status} {o.message}" for o in outcomes_from_report(tiny, report)]

    with WarmZygotes() as zygotes:
        assert graded(polite, zygotes) == ["pass "] * 3
        assert graded(seek, zygotes) == ["pass "] * 3  # nothing of A's left
        assert (zygotes.spawned, zygotes.replaced) == (2, 0)  # one sandbox, cleaned
        assert graded(leave, zygotes) == ["pass "] * 3
        assert graded(seek, zygotes) == ["pass "] * 3
        assert (zygotes.spawned, zygotes.replaced) == (4, 1)  # reniced zygote: replaced


# A leaves a process with copies of the worker's pipes: when A's submission zygote is
# gone it stops the warm zygote and answers in its place, so that it would read the next
# submission's answers and hidden probes and make up their results.
WARM_HIJACK = """import json
import os
import signal
import sys
import time

ZYGOTE = os.getppid()
with open(f'/proc/{ZYGOTE}/stat') as handle:
    WARM = int(handle.read().rsplit(')', 1)[1].split()[1])
PIPES = (os.dup(int(sys.argv[1])), os.dup(int(sys.argv[2])))
if os.fork() == 0:
    if os.fork() == 0:
        os.setsid()
        while os.path.exists(f'/proc/{ZYGOTE}'):
            time.sleep(0.0005)
        while True:  # the warm zygote waits for its next message
            with open(f'/proc/{WARM}/stat') as handle:
                if handle.read().rsplit(')', 1)[1].split()[0] == 'S':
                    break
        os.kill(WARM, signal.SIGSTOP)
        buffer, tokens = b'', {}
        while True:
            chunk = os.read(PIPES[0], 1 << 16)
            if not chunk:
                os._exit(0)
            buffer += chunk
            while b'\\n' in buffer:
                line, buffer = buffer.split(b'\\n', 1)
                message = json.loads(line)
                op = message.get('op')
                tokens[op] = message.get('token')
                reply = {'token': tokens[op], 'status': 'ok', 'pid': 2, 'seconds': 0.0,
                         'value': 'hijacked'}
                if op == 'bye':
                    reply = {'token': tokens.pop('fork', None) or tokens['spawn'], 'ended': 0}
                os.write(PIPES[1], (json.dumps(reply) + '\\n').encode())
    os._exit(0)
os.wait()
"""


def test_a_process_left_behind_cannot_answer_for_the_next_submission(tiny, sandbox: Sandbox
                                                                     ) -> None:  # noqa: ANN001
    """Before each spawn the grader kills, from outside, every process of the warm
    sandbox but its init and zygote: nothing of A's can read B's messages or answer them."""
    _pidns(sandbox)
    answers = {"add": WARM_HIJACK + "\n\n" + tiny.answers["add"], "mul": tiny.answers["mul"]}
    with WarmZygotes() as zygotes:
        for submission in (answers, tiny.answers, tiny.answers):
            report = run_submission(tiny, submission, sandbox=sandbox, zygotes=zygotes)
            assert [o.status for o in outcomes_from_report(tiny, report)] == ["pass"] * 3


def test_a_warm_zygote_takes_nothing_but_spawns(sandbox: Sandbox) -> None:
    """After its first spawn a warm zygote ends at any other message, so that no answer
    or probe meant for a submission's process ever stays in its memory."""
    _pidns(sandbox)
    with sandbox.start() as worker:
        deadline = time.monotonic() + 30
        assert worker.wait_ready(deadline)
        assert worker.spawn(deadline) is None
        assert worker.end_spawn(deadline)
        answer = worker.step({"op": "cell", "label": "answer add", "source": "x = 1"}, 5.0,
                             deadline)
        assert isinstance(answer, StepFailure) and "exit code 4" in answer.message


def test_an_overrun_kills_only_the_submission_zygote(tiny, sandbox: Sandbox) -> None:  # noqa: ANN001
    """A probe that swallows its alarm is stopped by killing its submission's zygote; the
    next attempt, and the next submission, fork from the same warm zygote."""
    _pidns(sandbox)
    answers = {"add": "def add(a, b):\n    while a == 2:\n        try:\n            while True:\n"
                      "                pass\n        except BaseException:\n            pass\n"
                      "    return a + b\n",
               "mul": tiny.answers["mul"]}
    with WarmZygotes() as zygotes:
        report = run_submission(tiny, answers, sandbox=sandbox, zygotes=zygotes)
        outcomes = {o.grade_id: o.status for o in outcomes_from_report(tiny, report)}
        assert outcomes == {"test_add": "timeout", "hidden_add": "pass", "test_mul": "pass"}
        assert report.launches == 2 and (zygotes.spawned, zygotes.replaced) == (2, 0)
        report = run_submission(tiny, tiny.answers, sandbox=sandbox, zygotes=zygotes)
        assert {o.status for o in outcomes_from_report(tiny, report)} == {"pass"}
        assert (zygotes.spawned, zygotes.replaced) == (3, 0)
