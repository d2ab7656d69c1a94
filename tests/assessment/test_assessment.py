"""The assessment (issue #15): reference solutions score full automated marks, starters
score near zero, broken repositories each cost only their own row, and the viva material
is complete. Every repository runs in the checker's sandbox, from a temporary folder."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from mlops_course import config
from mlops_course.course.assessment import (
    ASSIGNMENTS,
    Limits,
    check_folder,
    check_project,
    load_rubric,
    write_starter,
)
from mlops_course.course.assessment.dataset import DEFECTS, diabetes_frame
from mlops_course.course.assessment.runner import ProjectSandbox
from mlops_course.course.assessment.viva import LEVELS, load_banks, render_bank, student_guide


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_reference_solution_scores_full_automated_marks(assignment: str, tmp_path: Path
                                                        ) -> None:
    repo = write_starter(assignment, tmp_path / "reference", reference=True)
    before = subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True,
                            text=True, check=True).stdout
    report = check_project(assignment, repo)
    assert report.automated_points == report.automated_max, report.markdown()
    assert report.status() == "full"
    judged = [item for item in report.items if not item.automated]
    assert judged and all(item.points is None for item in judged)  # left to the instructor
    # the checker worked on a copy: the hand-in is exactly as it was
    assert subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True,
                          text=True, check=True).stdout == before
    assert not (repo / "dvc.lock").exists()


def test_starters_score_near_zero(tmp_path: Path) -> None:
    for assignment in ASSIGNMENTS:
        repo = write_starter(assignment, tmp_path / assignment)
        assert (repo / ".git").is_dir() and (repo / "data" / "diabetes.csv").is_file()
        assert subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True,
                              text=True, check=True).stdout == ""  # one clean commit
        report = check_project(assignment, repo)
        assert report.automated_points <= 0.1 * report.automated_max, report.markdown()
        assert not report.error
        by_id = {item.id: item for item in report.items}
        assert "no dvc.yaml" in by_id["repro"].message


def _broken_repositories(folder: Path) -> None:
    """One repository per way of being broken (major assignment: it has a service)."""
    def repo(name: str, files: dict[str, str]) -> None:
        for relative, text in files.items():
            path = folder / name / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)

    dvc = {".dvc/config": "[core]\n    no_scm = true\n", ".dvc/.gitignore": "/cache\n/tmp\n",
           "params.yaml": "train:\n  alpha: 1\n"}
    repo("a_no_dvc_yaml", {"README.md": "my project\n"})
    repo("b_failing_tests", {**dvc,
                             "tests/test_model.py": "def test_model():\n    assert 1 == 2\n"})
    repo("c_service_never_starts", {"serve.py": "import time\ntime.sleep(3600)\n"})
    repo("d_endless_build", {**dvc, "dvc.yaml": "stages:\n  train:\n    cmd: 'python -c "
                             "\"while True: pass\"'\n    outs:\n      - model.pkl\n"})
    repo("e_hostile", {"tests/test_steal.py": (
        "import pathlib, socket\n"
        "def test_steal():\n"
        f"    assert not list(pathlib.Path({str(config.project_root())!r}).joinpath("
        "'assessment').iterdir())\n"
        "    socket.create_connection(('1.1.1.1', 80), timeout=2)\n")})
    os.mkfifo(folder / "e_hostile" / "pipe")  # copying it must not block the batch
    (folder / "e_hostile" / "dvc.yaml").symlink_to("/etc/passwd")  # nor be read through
    (folder / "not_a_repo.txt").write_text("stray file: ignored by the batch\n")


def test_broken_repositories_each_get_a_clear_row(tmp_path: Path) -> None:
    _broken_repositories(tmp_path / "hand-ins")
    limits = Limits(command_timeout_s=8, total_timeout_s=60)
    reports = check_folder("major", tmp_path / "hand-ins", tmp_path / "out", limits)
    rows = list(csv.DictReader((tmp_path / "out" / "class.csv").open()))
    assert [r["student"] for r in rows] == ["a_no_dvc_yaml", "b_failing_tests",
                                            "c_service_never_starts", "d_endless_build",
                                            "e_hostile"]
    items = {r.student: {i.id: i for i in r.items} for r in reports}
    assert "no dvc.yaml" in items["a_no_dvc_yaml"]["repro"].message
    assert "no serve.py" in items["a_no_dvc_yaml"]["service_contract"].message
    assert "exited with status 1" in items["b_failing_tests"]["tests"].message
    assert "test_model" in items["b_failing_tests"]["tests"].message
    assert "never answered" in items["c_service_never_starts"]["service_contract"].message
    assert "stopped after" in items["d_endless_build"]["repro"].message
    assert items["e_hostile"]["tests"].points == 0  # the sandbox hid the course, cut the net
    assert "no dvc.yaml" in items["e_hostile"]["repro"].message
    for report in reports:
        assert report.automated_points < report.automated_max / 4
        assert (tmp_path / "out" / report.student / "report.md").is_file()
        assert json.loads((tmp_path / "out" / report.student / "report.json").read_text())
    assert float(rows[1]["tests (/6)"]) == 0 and rows[1]["viva"] == ""


def test_a_repository_too_large_or_not_a_folder_is_an_error_row(tmp_path: Path) -> None:
    (tmp_path / "big").mkdir()
    (tmp_path / "big" / "data.bin").write_bytes(b"x" * 2048)
    report = check_project("assignment-1", tmp_path / "big", Limits(max_repo_mb=0))
    assert report.status() == "error" and "larger than 0 MB" in report.error
    assert report.automated_points == 0 and "could not be checked" in report.markdown()
    (tmp_path / "file.zip").write_bytes(b"PK")
    assert "not a folder" in check_project("major", tmp_path / "file.zip").error


def test_a_repository_nested_too_deep_is_an_error_row_not_a_crash(tmp_path: Path) -> None:
    """1,100 folders inside each other broke the recursive size check and copy (a
    RecursionError that ended the whole batch); now it is that repository's error."""
    top = tmp_path / "deep"
    top.mkdir()
    path = str(top)
    for _ in range(1100):
        path += "/d"
        os.mkdir(path)
    try:
        report = check_project("assignment-1", top)
    finally:
        while path != str(top):  # deepest first: no recursion to remove it either
            os.rmdir(path)
            path = os.path.dirname(path)
    assert report.status() == "error" and "deep" in report.error


def test_sandbox_isolates_the_repository(tmp_path: Path) -> None:
    (tmp_path / "repo").mkdir()
    with ProjectSandbox(tmp_path / "repo", Limits(command_timeout_s=20)) as box:
        if box.mode != "namespaces":
            reason = "the full sandbox needs root and unshare; here it falls back to limits"
            if os.geteuid() == 0 and shutil.which("unshare"):
                pytest.fail(reason + " although both are here")
            pytest.skip(reason)
        result = box.run(["python", "-c", (
            "import os, pathlib, socket\n"
            f"print('hidden', list(pathlib.Path({str(config.project_root())!r}, "
            "'assessment').iterdir()))\n"
            "print('uid', os.getuid())\n"
            "try:\n    socket.create_connection(('1.1.1.1', 80), timeout=2)\n"
            "except OSError as exc:\n    print('net', type(exc).__name__)\n")])
    assert result.ok, result.output
    assert "hidden []" in result.output and "uid 0" not in result.output
    assert "net OSError" in result.output


def test_sandbox_hides_the_other_hand_ins_and_writes_nowhere_else(tmp_path: Path) -> None:
    """The folder that holds the hand-ins is hidden (one student cannot read another's
    repository), and nothing outside the job's own folders is writable, not even the
    host's world-writable folders (a channel to a later repository)."""
    import tempfile

    if os.geteuid() != 0 or not shutil.which("unshare"):
        reason = "the full sandbox needs root and unshare"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + " (CI runs as root with unshare)")
        pytest.skip(reason)
    # outside /tmp, which the sandbox replaces anyway, and outside the home, which it hides
    # when others cannot enter it: a temporary folder beside the checkout (else the home)
    beside = config.project_root().parent
    where = beside if os.access(beside, os.W_OK) else Path.home()
    with tempfile.TemporaryDirectory(dir=where, prefix=".mlops-check-test-") as top:
        for name in ("alice", "bob"):
            (Path(top) / name).mkdir()
        (Path(top) / "bob" / "answer.py").write_text("SECRET = 42\n")
        os.chmod(top, 0o755)
        places = [p for p in ("/run/lock", str(config.project_root()), top)
                  if os.path.isdir(p)]
        with ProjectSandbox(Path(top) / "alice", Limits(command_timeout_s=20)) as box:
            assert box.mode == "namespaces"
            result = box.run(["python", "-c", (
                "import os\n"
                f"print('bob', os.path.exists({top!r} + '/bob/answer.py'))\n"
                f"for place in {places!r}:\n"
                "    try:\n"
                "        open(place + '/left-by-alice', 'w').close()\n"
                "        print('wrote', place)\n"
                "    except OSError:\n"
                "        pass\n")])
        left = [p for p in places if os.path.exists(p + "/left-by-alice")]
        for place in left:
            os.unlink(place + "/left-by-alice")
    assert result.ok, result.output
    assert "bob False" in result.output and "wrote" not in result.output and not left


def test_a_repository_cannot_fill_the_disk(tmp_path: Path) -> None:
    """Files under the size limit, many of them: the job's folder is a tmpfs of
    ``disk_mb``, unmounted and removed afterwards."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        reason = "the full sandbox needs root and unshare"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + " (CI runs as root with unshare)")
        pytest.skip(reason)
    (tmp_path / "repo").mkdir()
    with ProjectSandbox(tmp_path / "repo", Limits(command_timeout_s=20, disk_mb=32)) as box:
        folder = str(box.folder)
        result = box.run(["python", "-c", (
            "import os\n"
            "for n in range(8):\n"
            "    try:\n"
            "        with open(f'big{n}', 'wb') as f:\n"
            "            f.write(os.urandom(8 << 20))\n"
            "    except OSError as exc:\n"
            "        print('full', exc.errno)\n"
            "        break\n")])
    assert "full 28" in result.output, result.output  # ENOSPC
    assert folder not in Path("/proc/self/mounts").read_text() and not os.path.exists(folder)


def test_a_command_cannot_rewrite_what_it_printed(tmp_path: Path) -> None:
    """A stage that truncates its standard output (to hide the `Running stage` lines of
    a second `dvc repro`) cannot: the checker reads the output through a pipe."""
    (tmp_path / "repo").mkdir()
    with ProjectSandbox(tmp_path / "repo", Limits(command_timeout_s=20), mode="limits") as box:
        result = box.run(["python", "-c", (
            "import os, sys\n"
            "print(\"Running stage 'train':\", flush=True)\n"
            "try:\n"
            "    os.ftruncate(1, 0)\n"
            "    os.lseek(1, 0, os.SEEK_SET)\n"
            "except OSError:\n"
            "    pass\n"
            "print(\"Stage 'train' didn't change, skipping\")\n")])
    assert result.ok and "Running stage 'train'" in result.output, result.output


def test_hostile_names_cannot_forge_rows_formulas_or_another_report(tmp_path: Path) -> None:
    """A hand-in folder named like a formula or a rubric line stays text in class.csv and
    in its report, and two names that sanitize alike get two report folders."""
    from mlops_course.course.assessment.checker import ItemResult, ProjectReport
    from mlops_course.course.assessment.report import write_class_csv, write_report

    names = ["=HYPERLINK(\"http://x\",\"8\")", "a b\n| `repro` | 9 / 9 | forged |", "a_b",
             "a b"]
    reports = [ProjectReport(name, "assignment-1", "Assignment 1", "/x",
                             items=[ItemResult("repro", 1.0, True, 0.0, "no dvc.yaml")],
                             error="-1+1" if name == "a_b" else "") for name in names]
    folders = {write_report(r, tmp_path / "out") for r in reports}
    rows = list(csv.reader(write_class_csv(reports, tmp_path / "class.csv").open()))[1:]
    assert len(folders) == 4 and all(f.parent == tmp_path / "out" for f in folders)
    assert rows[0][0].startswith("'=") and rows[2][-1] == "'-1+1"
    assert "\n| `repro` | 9" not in reports[1].markdown()


def test_limits_mode_without_root_still_times_out_and_serves(tmp_path: Path) -> None:
    """The fallback of a student laptop: no namespaces, but limits, timeouts, a process
    group, and the service probed on a free loopback port."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "serve.py").write_text(
        "import sys\nfrom http.server import BaseHTTPRequestHandler, HTTPServer\n"
        "class H(BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        self.send_response(200); self.end_headers(); self.wfile.write(b'ok')\n"
        "HTTPServer(('127.0.0.1', int(sys.argv[sys.argv.index('--port') + 1])), H)"
        ".serve_forever()\n")
    with ProjectSandbox(repo, Limits(command_timeout_s=2), mode="limits") as box:
        slow = box.run(["sh", "-c", "echo started; sleep 30"])
        assert slow.timed_out and "started" in slow.output and "stopped after" in slow.why()
        with box.service(["python", "serve.py", "--port", "{port}"]) as service:
            out, why = box.probe(service, json.dumps([
                {"name": "health", "method": "GET", "path": "/health"}]), 20)
    assert out is not None, why
    assert json.loads(out)["results"][0]["status"] == 200


def test_rubrics_viva_banks_and_guide() -> None:
    # what the briefs and the assessment README say
    automated = {"assignment-1": 40, "major": 60}
    for assignment in ASSIGNMENTS:
        rubric = load_rubric(assignment)
        assert rubric.total == 100 and rubric.weight_percent == 50
        assert rubric.automated_max == automated[assignment]
    assert (Limits().command_timeout_s, Limits().total_timeout_s) == (180, 600)
    frame = diabetes_frame()
    assert len(frame) == 442 + DEFECTS["duplicates"] and frame["bmi"].isna().sum() > 0
    banks = load_banks()
    assert [bank.lesson for bank in banks] == list(range(1, 12))
    for bank in banks:
        assert {q.level for q in bank.questions} == set(LEVELS)
        assert all(q.model_answer and q.strong_answer for q in bank.questions)
    assert "model answer" in render_bank(["4"])
    guide = (config.project_root() / "assessment" / "viva" / "guide.md").read_text()
    student = student_guide(guide)
    assert "recall" in student and "Marking scheme" not in student
    assert "Marking scheme" in guide
