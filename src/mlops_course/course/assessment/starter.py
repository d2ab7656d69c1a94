"""Starter repositories (for students) and reference solutions (instructor edition only).

    mlops-course assignment starter NAME OUT     # git-initialised starter, one commit
    mlops-course assignment reference NAME OUT   # the reference solution (instructors)

A repository is built from layers of ``assessment/``: the starter of assignment 1 (the
notebook project), then the major assignment's starter, then the reference solutions
(instructor edition only), plus the generated data set.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from mlops_course.course.assessment.checker import ASSIGNMENTS, assessment_dir
from mlops_course.course.assessment.dataset import write_diabetes_csv
from mlops_course.course.assessment.runner import CheckError

LAYERS = {
    "assignment-1": {"starter": ["assignment-1/starter"],
                     "reference": ["assignment-1/reference"]},
    "major": {"starter": ["assignment-1/starter", "major/starter"],
              "reference": ["assignment-1/reference", "major/reference"]},
}
DATA = Path("data") / "diabetes.csv"
_GIT = ["git", "-c", "user.name=mlops-course", "-c", "user.email=mlops-course@localhost",
        "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false"]


def _git(folder: Path, *args: str) -> None:
    subprocess.run([*_GIT, *args], cwd=folder, check=True, capture_output=True)


def _tool(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def write_starter(assignment: str, out: Path, *, reference: bool = False) -> Path:
    """Write the starter (or, for instructors, the reference solution) of ``assignment`` into
    ``out`` (new or empty) as a Git repository with one commit.

    The reference is a DVC project too: its data is added to DVC (``dvc add``), so Git holds
    only ``data/diabetes.csv.dvc``.
    """
    if assignment not in ASSIGNMENTS:
        raise CheckError(f"unknown assignment {assignment!r}; choose one of "
                         f"{', '.join(ASSIGNMENTS)}")
    out = Path(out).expanduser().resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CheckError(f"{out} exists and is not empty; choose a new folder")
    layers = LAYERS[assignment]["starter"] + (LAYERS[assignment]["reference"] if reference
                                              else [])
    root = assessment_dir()
    for layer in layers:
        if not (root / layer).is_dir():
            hint = (" (reference solutions ship with the instructor edition only)"
                    if "reference" in layer else "")
            raise CheckError(f"{root / layer} is missing{hint}")
    out.mkdir(parents=True, exist_ok=True)
    for layer in layers:
        shutil.copytree(root / layer, out, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    write_diabetes_csv(out / DATA)
    _git(out, "init", "-q")
    if reference:  # DVC's site cache goes to a temporary folder, not /var/tmp
        with tempfile.TemporaryDirectory(prefix="mlops-starter-dvc-") as site:
            env = {**os.environ, "DVC_NO_ANALYTICS": "1", "DVC_SITE_CACHE_DIR": site}
            for command in (["init", "-q"], ["add", "-q", str(DATA)]):
                subprocess.run([_tool("dvc"), *command], cwd=out, check=True,
                               capture_output=True, env=env)
    _git(out, "add", "-A")
    _git(out, "commit", "-q", "-m", f"{'Reference solution' if reference else 'Starter'} "
         f"of {assignment}")
    return out
