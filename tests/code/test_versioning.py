"""mlops_course.versioning: commands in an isolated environment, DVC's hash and cache
layout, bit rot. Only git runs here (fast); DVC itself runs in test_dvc_repro.py."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from mlops_course.versioning import (
    CommandError,
    Workspace,
    cache_path,
    corrupt_file,
    isolated_env,
    md5_file,
    read_dvc_file,
    run,
)


def test_md5_file_matches_hashlib(tmp_path: Path) -> None:
    path = tmp_path / "blob.bin"
    content = os.urandom(3 << 20)  # more than one read chunk
    path.write_bytes(content)
    assert md5_file(path) == hashlib.md5(content).hexdigest()


def test_cache_path_is_dvc_layout() -> None:
    md5 = "d1c47305887e2252bf1ccbd74ff159a6"
    assert cache_path("cache", md5) == Path("cache/files/md5/d1/c47305887e2252bf1ccbd74ff159a6")
    with pytest.raises(ValueError, match="not an md5"):
        cache_path("cache", "not-a-hash")


def test_read_dvc_file(tmp_path: Path) -> None:
    pointer = tmp_path / "housing.csv.dvc"
    pointer.write_text("outs:\n- md5: d1c47305887e2252bf1ccbd74ff159a6\n  size: 10\n"
                       "  hash: md5\n  path: housing.csv\n")
    assert read_dvc_file(pointer) == {"md5": "d1c47305887e2252bf1ccbd74ff159a6", "size": 10,
                                      "hash": "md5", "path": "housing.csv"}
    pointer.write_text("{}\n")
    with pytest.raises(Exception, match="records no outputs"):
        read_dvc_file(pointer)


def test_corrupt_file_keeps_size_and_mode(tmp_path: Path) -> None:
    path = tmp_path / "object"
    path.write_bytes(b"0123456789")
    path.chmod(0o444)
    before = md5_file(path)
    offset = corrupt_file(path)
    assert offset == 5
    assert path.stat().st_size == 10
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert md5_file(path) != before
    assert path.read_bytes() == b"01234" + bytes([ord("5") ^ 1]) + b"6789"


def test_isolated_env_hides_user_settings(tmp_path: Path) -> None:
    env = isolated_env(tmp_path, base={"PATH": "/usr/bin", "HOME": "/home/someone"})
    assert env["GIT_CONFIG_GLOBAL"] == os.devnull and env["GIT_CONFIG_NOSYSTEM"] == "1"
    assert env["DVC_NO_ANALYTICS"] == "1"
    for key in ("DVC_GLOBAL_CONFIG_DIR", "DVC_SYSTEM_CONFIG_DIR", "DVC_SITE_CACHE_DIR"):
        assert Path(env[key]).is_relative_to(tmp_path), key
    assert env["PATH"].endswith("/usr/bin") and env["PATH"] != "/usr/bin"


def test_run_raises_with_the_output(tmp_path: Path) -> None:
    with pytest.raises(CommandError) as info:
        run("git log", tmp_path, env=isolated_env(tmp_path), echo=False)
    error = info.value
    assert error.returncode != 0
    assert "`git log` failed" in str(error) and "not a git repository" in str(error)
    assert "Fix:" in str(error)
    result = run("git log", tmp_path, env=isolated_env(tmp_path), echo=False, check=False)
    assert result.returncode == error.returncode


def test_run_reports_a_missing_program(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="command not found"):
        run("no-such-program-xyz --help", tmp_path, echo=False)


def test_run_echoes_command_and_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                       ) -> None:
    run(["git", "--version"], tmp_path, echo=True)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "$ git --version" and out[1].startswith("git version")


def test_workspace_commits_reproducibly_without_global_config(tmp_path: Path) -> None:
    """Two workspaces with the same content get the same commit hash; nothing reads or
    writes ~/.gitconfig."""
    hashes = []
    for name in ("a", "b"):
        ws = Workspace(root=tmp_path / name, home=tmp_path / f"{name}-home")
        ws.root.mkdir()
        ws.run("git init --quiet --initial-branch main", echo=False)
        (ws.root / "file.txt").write_text("same content\n")
        ws.run("git add file.txt", echo=False)
        ws.run("git commit --quiet -m 'same message'", echo=False)
        hashes.append(ws.run("git rev-parse HEAD", echo=False).stdout.strip())
        author = ws.run("git log -1 --format=%an", echo=False).stdout.strip()
        assert author == "Course Student"
        assert [c for c, _ in ws.timings()][-1] == "git log -1 --format=%an"
    assert hashes[0] == hashes[1]
