"""Unit tests of the grader's defences: probes that only observe, replies that are checked,
texts and ids that are safe to print and to use as file names, the syscall filter."""

from __future__ import annotations

import json

import pytest

from mlops_course.course.autograde.launcher import DENIED_SYSCALLS, seccomp_program
from mlops_course.course.autograde.submissions import (
    SubmissionFile,
    read_submission,
    safe_student_id,
    student_id,
)
from mlops_course.course.autograde.untrusted import check_reply, clean_text
from mlops_course.course.exercises import load_exercise
from mlops_course.course.observe import check_probe, raised
from mlops_course.errors import ExerciseFormatError

JUDGING = {
    "compare": "def probe():\n    return f(1) == 2\n",
    "in": "def probe():\n    return 'x' in f(1)\n",
    "is": "def probe():\n    return f(1) is None\n",
    "if": "def probe():\n    if f(1):\n        return 1\n    return 0\n",
    "ifexp": "def probe():\n    return 1 if f(1) else 0\n",
    "boolop": "def probe():\n    return f(1) and f(2)\n",
    "not": "def probe():\n    return not f(1)\n",
    "assert": "def probe():\n    assert f(1)\n",
    "filter": "def probe():\n    return [x for x in f(1) if x]\n",
    "isinstance": "def probe():\n    return isinstance(f(1), float)\n",
    "equals": "def probe():\n    return f(1).equals(f(2))\n",
    "allclose": "def probe():\n    import numpy as np\n    return np.allclose(f(1), 2)\n",
    "specific except": ("def probe():\n    try:\n        f(1)\n    except ValueError:\n"
                        "        return 'ValueError'\n    return 'no error'\n"),
}


@pytest.mark.parametrize("kind", sorted(JUDGING))
def test_a_probe_that_judges_is_rejected(kind: str) -> None:
    with pytest.raises(ExerciseFormatError, match="only observes"):
        check_probe(JUDGING[kind], "test")


def test_a_probe_that_observes_is_accepted() -> None:
    check_probe("def probe():\n    out = {'v': f(1), 'n': len(f(2))}\n    try:\n"
                "        f(None)\n    except Exception as exc:\n        out['e'] = raised(exc)\n"
                "    return [out, sorted(str(c) for c in f(3))]\n", "test")


def test_raised_reports_the_class_its_bases_and_a_bounded_message() -> None:
    class Odd(ValueError):
        pass

    observed = raised(Odd("x" * 10_000))
    assert observed["raised"][:3] == ["Odd", "ValueError", "Exception"]
    assert len(observed["message"]) == 500


@pytest.mark.parametrize("line, problem", [
    ('{"token": "t", "status": "ok", "value": NaN}', "non-finite"),
    ('{"token": "t", "status": "ok", "value": [1, Infinity]}', "non-finite"),
    ('{"token": "t", "status": "ok", "value": ' + "9" * 400 + "}", "beyond 64 bits"),
    ('{"token": "t", "status": "ok", "value": ' + "[" * 150 + "]" * 150 + "}", "nested"),
])
def test_a_forged_reply_becomes_an_error_never_a_crash(line: str, problem: str) -> None:
    reply = check_reply(json.loads(line))
    assert reply["status"] == "error" and problem in reply["error"]


def test_reply_fields_are_bounded_and_clean() -> None:
    reply = check_reply({"status": "error", "error": "\x1b[2J" + "e" * 10_000,
                         "seconds": 10**400, "tampered": ["a\rb"] * 100})
    assert reply["seconds"] == 0.0
    assert len(reply["error"]) == 2000 and "\x1b" not in reply["error"]
    assert len(reply["tampered"]) == 20 and reply["tampered"][0] == "a\\rb"
    assert check_reply({"status": "pwned"})["status"] == "error"


def test_clean_text_escapes_what_a_terminal_or_file_would_act_on() -> None:
    text = clean_text("ok\udcff\x1b[2J\r\u202eevil\x00\n")
    assert text == "ok\\udcff\\x1b[2J\\r\\u202eevil\\x00\n"
    text.encode("utf-8")  # no lone surrogate left
    assert "\n" not in clean_text("a\nb", newlines=False)


@pytest.mark.parametrize("raw", ["bob\x1b[2J", "caf\udce9", "a/b", "x" * 300, ".hidden", ""])
def test_student_ids_are_safe_file_names_and_stable(raw: str) -> None:
    safe = safe_student_id(raw)
    assert 0 < len(safe.encode()) <= 100 and "/" not in safe and not safe.startswith(".")
    assert all(c.isalnum() or c in "._-" for c in safe)
    assert student_id(student_id(raw)) == student_id(raw)  # used twice, same id
    assert safe_student_id(safe) == safe


def test_different_names_never_share_an_id() -> None:
    names = ["a b", "a_b", "a\tb", "a\udcffb", "x" * 95, "x" * 96, "-x", "_-x", ".x", "x"]
    assert len({student_id(n) for n in names}) == len(names)


def test_the_syscall_filter_denies_what_it_lists_and_jumps_stay_in_range() -> None:
    program = seccomp_program()
    assert len(program) < 100
    denied = {k for code, _, _, k in program if code == 0x15}
    assert {DENIED_SYSCALLS[n] for n in ("add_key", "keyctl", "request_key", "ptrace",
                                           "bpf", "perf_event_open", "userfaultfd",
                                           "mount", "unshare", "setns")} <= denied
    for i, (code, jt, jf, _) in enumerate(program):
        if code & 0x07 == 0x05:  # a jump: both targets inside the program
            assert 0 <= jt <= 255 and 0 <= jf <= 255 and i + 1 + max(jt, jf) < len(program)
    assert [code for code, *_ in program[-3:]] == [0x06] * 3  # it ends in returns


@pytest.mark.parametrize("marker", ["# %%", "#%%", "  # %%", "# In[ ]:", "# <codecell>"])
def test_too_many_cells_are_refused_before_parsing(tmp_path, marker: str) -> None:  # noqa: ANN001
    path = tmp_path / "many.py"
    path.write_text(f"{marker}\nx = 1\n" * 600)
    submission = read_submission(SubmissionFile("many", path), load_exercise("01"))
    assert submission.problem and "600 cells, more than the 500" in submission.problem
