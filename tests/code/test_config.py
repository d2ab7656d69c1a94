from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mlops_course import config


def test_paths_follow_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_COURSE_BUILD_DIR", str(tmp_path / "b"))
    monkeypatch.setenv("MLOPS_COURSE_DATA_DIR", str(tmp_path / "d"))
    assert config.build_dir() == tmp_path / "b"
    assert config.data_dir() == tmp_path / "d"
    assert not (tmp_path / "b").exists()  # computing a path creates nothing


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("true", True), ("0", False),
                                                 ("", False), ("no", False)])
def test_fast_default(value: str, expected: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FAST", raising=False)
    monkeypatch.setenv("MLOPS_COURSE_FAST", value)
    assert config.fast_default() is expected


def test_work_dir_is_emptied(isolated_build_dir: Path) -> None:
    work = config.work_dir("demo")
    (work / "leftover.txt").write_text("x")
    assert list(config.work_dir("demo").iterdir()) == []
    assert work.is_relative_to(isolated_build_dir)


def test_set_seed_is_reproducible() -> None:
    config.set_seed(7)
    first = (random.random(), np.random.rand())
    config.set_seed(7)
    assert (random.random(), np.random.rand()) == first


def test_set_seed_seeds_torch_when_imported() -> None:
    torch = pytest.importorskip("torch")
    config.set_seed(3)
    a = torch.rand(2)
    config.set_seed(3)
    assert torch.equal(a, torch.rand(2))


def test_import_has_no_side_effects(tmp_path: Path) -> None:
    """Importing every module creates no file and starts no download."""
    code = ("import mlops_course, mlops_course.config, mlops_course.data, "
            "mlops_course.course.lessons, mlops_course.course.exercises, "
            "mlops_course.course.results, mlops_course.cli, "
            "mlops_course.course.autograde, mlops_course.course.local_server")
    env = {"MLOPS_COURSE_BUILD_DIR": str(tmp_path / "b"), "MLOPS_COURSE_DATA_DIR":
           str(tmp_path / "d"), "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=tmp_path)
    assert list(tmp_path.iterdir()) == []
