"""The project's DVC pipeline (dvc.yaml at the root) reproduces in a fresh copy.

The checkout's tracked files are copied into a temporary folder that becomes a new Git
repository, as a fresh clone would be (the checkout itself is never touched). There:

* the first ``dvc repro`` runs prepare, train and evaluate, reading the data through the
  course loader (from the mirror), and leaves nothing for Git to see but ``dvc.lock``;
* the committed ``dvc.lock`` records the code and parameters of this checkout;
* a second ``dvc repro`` runs nothing;
* changing a training parameter reruns train and evaluate, never prepare.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from mlops_course import config
from mlops_course.versioning import Workspace

ROOT = config.project_root()
STAGES = ["prepare", "train", "evaluate"]



def _ran(output: str) -> list[str]:
    return re.findall(r"Running stage '(\w+)'", output)


def _fresh_copy(home: Path, housing_csv: Path) -> Workspace:
    """The checkout's tracked files, copied into a new Git repository (a fresh clone of
    the working tree, uncommitted edits included)."""
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                             check=True).stdout.decode().split("\0")
    for name in filter(None, tracked):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the working tree is skipped
            target = home / "project" / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    ws = Workspace(root=home / "project", home=home)
    ws.env.update({
        "MLOPS_COURSE_HOME": str(ws.root),
        "MLOPS_COURSE_DATA_DIR": str(home / "data"),  # an empty cache: the loader fetches
        "MLOPS_COURSE_DATA_MIRROR": str(housing_csv.parent),  # ... from the verified copy
    })
    ws.run("git init --quiet --initial-branch main", echo=False)
    ws.run("git add --all", echo=False)
    ws.run("git commit --quiet -m 'fresh copy'", echo=False)
    return ws


def _stale_lock_entries(committed: dict, regenerated: dict) -> list[str]:
    """Stages whose command, parameters or source files differ between two dvc.lock files.

    Outputs are not compared: their bytes may differ between machines (floating point).
    """
    stale = []
    for name in STAGES:
        old, new = committed["stages"][name], regenerated["stages"][name]
        if old.get("cmd") != new.get("cmd") or old.get("params") != new.get("params"):
            stale.append(f"{name}: command or parameters")
        old_src = {d["path"]: d["md5"] for d in old["deps"] if d["path"].startswith("src/")}
        new_src = {d["path"]: d["md5"] for d in new["deps"] if d["path"].startswith("src/")}
        stale += [f"{name}: {path}" for path in sorted(new_src)
                  if old_src.get(path) != new_src[path]]
    return stale


def test_dvc_repro_in_a_fresh_copy(tmp_path: Path, housing_csv: Path) -> None:
    """One test, in steps (the steps share one slow setup and must run in order)."""
    if not (ROOT / ".git").exists():
        pytest.skip(f"{ROOT} is not a Git checkout: nothing to copy a fresh clone from")
    ws = _fresh_copy(tmp_path, housing_csv)
    committed_lock = yaml.safe_load((ws.root / "dvc.lock").read_text())

    # 1. the first repro runs every stage, through the loader, with sane results
    output = ws.run("dvc repro", echo=False).output
    assert _ran(output) == STAGES, output
    metrics = json.loads((ws.root / "build/dvc/metrics.json").read_text())
    assert metrics["n_test"] == 4128, "a 20% split of the 20,640 districts"
    assert 35_000 < metrics["test_rmse_usd"] < 50_000, metrics
    assert (tmp_path / "data/raw/housing.csv").is_file(), "read through the course loader"

    # 2. outputs stay out of Git: nothing new to see but (maybe) dvc.lock
    status = ws.run("git status --porcelain --untracked-files=all", echo=False).stdout
    changed = [line[3:] for line in status.splitlines()]
    assert set(changed) <= {"dvc.lock"}, (
        f"dvc repro left files for Git to see: {changed}. Outputs belong under build/ "
        "(ignored by git), so that DVC writes no .gitignore entries.")

    # 3. the committed dvc.lock records this checkout's code and parameters
    stale = _stale_lock_entries(committed_lock, yaml.safe_load((ws.root / "dvc.lock").read_text()))
    assert not stale, (
        "dvc.lock is out of date with the code or params.yaml (" + "; ".join(stale) + ").\n"
        "Fix: run `make repro` (dvc repro at the project root) and commit dvc.lock.")

    # 4. a second repro runs nothing
    output = ws.run("dvc repro", echo=False).output
    assert _ran(output) == [] and "Data and pipelines are up to date" in output, output

    # 5. a training parameter reruns train and evaluate, never prepare
    params_path = ws.root / "params.yaml"
    params = yaml.safe_load(params_path.read_text())
    before = params["train"]["max_iter"]
    params["train"]["max_iter"] = after = max(10, before // 4)
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))
    status = json.loads(ws.run("dvc status --json", echo=False).stdout)
    assert set(status) == {"train"}, f"only train reads train.max_iter: {status}"
    output = ws.run("dvc repro", echo=False).output
    assert _ran(output) == ["train", "evaluate"], output
    assert "Stage 'prepare' didn't change, skipping" in output
    change = json.loads(ws.run("dvc params diff --json", echo=False).stdout)
    assert change["params.yaml"]["train.max_iter"]["old"] == before
    assert change["params.yaml"]["train.max_iter"]["new"] == after
