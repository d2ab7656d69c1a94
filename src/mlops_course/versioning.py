"""Git and DVC from Python, for lesson 4: run real commands in an isolated workspace.

Lesson 4 calls ``git`` and ``dvc`` exactly as a reader would type them, through
:class:`Workspace`. A workspace is a folder (a temporary one in the lesson) whose
commands see an isolated environment: no global or system Git or DVC configuration,
no analytics, no update check, DVC's site cache inside the folder, fixed commit
authors and dates (so commit hashes repeat from run to run), and this interpreter's
``bin`` folder first on ``PATH`` (so pipeline stages find ``mlops-course``). A failing
command raises :class:`CommandError` with its output.

The small helpers below show what DVC does under the hood: :func:`md5_file` is the
hash DVC records, :func:`cache_path` is where that content lives (content addressing),
:func:`read_dvc_file` reads a ``.dvc`` pointer, :func:`corrupt_file` simulates bit rot.
"""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_course.errors import MlopsCourseError

#: Commits made in a workspace all carry this author and date (reproducible hashes).
AUTHOR_NAME = "Course Student"
AUTHOR_EMAIL = "student@example.invalid"
COMMIT_DATE = "2024-01-01T12:00:00+00:00"


class CommandError(MlopsCourseError):
    """A git or DVC command exited with an error; the message holds its output."""

    def __init__(self, command: str, cwd: Path, returncode: int, stdout: str, stderr: str):
        self.command, self.cwd, self.returncode = command, cwd, returncode
        self.stdout, self.stderr = stdout, stderr
        output = "\n".join(part.strip("\n").rstrip() for part in (stdout, stderr)
                           if part.strip())
        again = f"cd {shlex.quote(str(cwd))} && {command}"
        if command.startswith("dvc ") and " -v" not in command and "--verbose" not in command:
            again += " --verbose"
        super().__init__(
            f"`{command}` failed in {cwd} (exit code {returncode}):\n"
            f"{_indent(output) or '    (no output)'}\n"
            f"Fix: read the tool's message above; to see more, run it by hand:\n"
            f"    {again}")


@dataclass(frozen=True)
class CommandResult:
    """What one command did: its text, exit code, output and wall time."""

    command: str
    cwd: Path
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        """stdout then stderr, without blank lines around them (indentation is kept)."""
        return "\n".join(p.strip("\n").rstrip() for p in (self.stdout, self.stderr)
                         if p.strip())


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.strip().splitlines())


def isolated_env(home: str | os.PathLike[str], base: Mapping[str, str] | None = None
                 ) -> dict[str, str]:
    """An environment for git and DVC that reads no user or system settings.

    * Git: ``GIT_CONFIG_GLOBAL`` is the null device and ``GIT_CONFIG_NOSYSTEM`` is set,
      so your ``~/.gitconfig`` is neither read nor written; authors and dates are fixed.
    * DVC: analytics off (``DVC_NO_ANALYTICS``), global and system config folders and
      the site cache inside ``home``, Studio offline.
    * ``PATH`` starts with this interpreter's ``bin`` folder.
    """
    home = Path(home)
    env = dict(os.environ if base is None else base)
    bin_dir = str(Path(sys.executable).parent)
    env.update({
        "PATH": os.pathsep.join([bin_dir, env.get("PATH", "")]),
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_PAGER": "cat",
        "GIT_AUTHOR_NAME": AUTHOR_NAME,
        "GIT_AUTHOR_EMAIL": AUTHOR_EMAIL,
        "GIT_COMMITTER_NAME": AUTHOR_NAME,
        "GIT_COMMITTER_EMAIL": AUTHOR_EMAIL,
        "GIT_AUTHOR_DATE": COMMIT_DATE,
        "GIT_COMMITTER_DATE": COMMIT_DATE,
        "DVC_NO_ANALYTICS": "1",
        "DVC_STUDIO_OFFLINE": "true",
        "DVC_GLOBAL_CONFIG_DIR": str(home / ".dvc-global"),
        "DVC_SYSTEM_CONFIG_DIR": str(home / ".dvc-system"),
        "DVC_SITE_CACHE_DIR": str(home / ".dvc-site-cache"),
        "DVC_PAGER": "cat",
        "PAGER": "cat",
        "TERM": "dumb",
        "NO_COLOR": "1",
    })
    return env


def run(
    command: str | Sequence[str],
    cwd: str | os.PathLike[str],
    *,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    echo: bool = True,
    max_lines: int = 25,
    timeout_s: float = 300.0,
) -> CommandResult:
    """Run one command (a string is split like a shell would, without a shell).

    With ``echo`` the command is printed as ``$ command`` followed by its output (at
    most ``max_lines`` lines; ``0`` prints the command only). With ``check`` a non-zero exit raises
    :class:`CommandError`, whose message holds the command's output.

    Examples
    --------
    >>> run("git --version", ".", echo=False).stdout.startswith("git version")
    True
    """
    args = shlex.split(command) if isinstance(command, str) else list(command)
    text = command if isinstance(command, str) else shlex.join(args)
    cwd = Path(cwd)
    start = time.perf_counter()
    try:
        proc = subprocess.run(args, cwd=cwd, env=None if env is None else dict(env),
                              capture_output=True, text=True, stdin=subprocess.DEVNULL,
                              timeout=timeout_s, check=False)
    except FileNotFoundError as exc:
        raise CommandError(text, cwd, 127, "", f"{args[0]}: command not found ({exc}). "
                           "Is the project's environment active?") from exc
    result = CommandResult(text, cwd, proc.returncode, proc.stdout, proc.stderr,
                           time.perf_counter() - start)
    if echo:
        lines = result.output.splitlines()
        shown = lines[:max_lines] + ([f"… ({len(lines) - max_lines} more lines)"]
                                     if len(lines) > max_lines > 0 else [])
        print("\n".join([f"$ {text}", *shown]))
    if check and proc.returncode != 0:
        raise CommandError(text, cwd, proc.returncode, proc.stdout, proc.stderr)
    return result


@dataclass
class Workspace:
    """A folder where git and DVC run isolated (see :func:`isolated_env`).

    ``history`` keeps every command's result, so a lesson can report how long each
    took. ``home`` holds the isolated configuration and DVC's site cache.

    Examples
    --------
    >>> ws = Workspace(root=tmp / "project", home=tmp)  # doctest: +SKIP
    >>> ws.init()                                       # git init + dvc init  # doctest: +SKIP
    >>> ws.run("dvc status")                            # doctest: +SKIP
    """

    root: Path
    home: Path
    history: list[CommandResult] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.root, self.home = Path(self.root), Path(self.home)
        self.env = isolated_env(self.home)

    def run(self, command: str | Sequence[str], *, cwd: str | os.PathLike[str] | None = None,
            check: bool = True, echo: bool = True, max_lines: int = 25) -> CommandResult:
        """Run a command in the workspace (or in ``cwd``) and keep its result."""
        try:
            result = run(command, self.root if cwd is None else cwd, env=self.env,
                         check=check, echo=echo, max_lines=max_lines)
        except CommandError as exc:
            self.history.append(CommandResult(exc.command, exc.cwd, exc.returncode,
                                              exc.stdout, exc.stderr, float("nan")))
            raise
        self.history.append(result)
        return result

    def init(self, *, branch: str = "main") -> None:
        """``git init`` + ``dvc init`` with analytics and update checks off, committed."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.run(f"git init --quiet --initial-branch {branch}")
        self.run("dvc init --quiet")
        self.run("dvc config core.analytics false", echo=False)
        self.run("dvc config core.check_update false", echo=False)
        self.run("git add .dvc/config", echo=False)
        self.run("git commit --quiet -m 'Initialize DVC'")

    def path(self, *parts: str) -> Path:
        """A path inside the workspace."""
        return self.root.joinpath(*parts)

    def timings(self) -> list[tuple[str, float]]:
        """(command, seconds) of every successful command so far."""
        return [(r.command, r.seconds) for r in self.history if r.returncode == 0]


def md5_file(path: str | os.PathLike[str]) -> str:
    """The md5 hex digest of a file's bytes: the hash DVC 3 records for a file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.txt"; _ = p.write_bytes(b"hello\\n")
    >>> md5_file(p)
    'b1946ac92492d2347c6235b4d2611184'
    """
    from mlops_course.data import file_digest

    return file_digest(path, "md5")


def cache_path(cache_dir: str | os.PathLike[str], md5: str) -> Path:
    """Where DVC 3 stores the content with hash ``md5`` in a cache or a remote.

    The first two hex digits name a folder, the rest the file: content addressing.

    Examples
    --------
    >>> cache_path(".dvc/cache", "d1c47305887e2252bf1ccbd74ff159a6").as_posix()
    '.dvc/cache/files/md5/d1/c47305887e2252bf1ccbd74ff159a6'
    """
    if len(md5) != 32 or any(c not in "0123456789abcdef" for c in md5):
        raise ValueError(f"not an md5 hex digest: {md5!r}")
    return Path(cache_dir) / "files" / "md5" / md5[:2] / md5[2:]


def read_dvc_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The first output recorded in a ``.dvc`` pointer file: ``md5``, ``size``, ``path``."""
    import yaml

    content = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    outs = content.get("outs") or []
    if not outs:
        raise MlopsCourseError(f"{path} records no outputs: is it a .dvc file made by "
                               "`dvc add`?")
    return dict(outs[0])


def corrupt_file(path: str | os.PathLike[str], offset: int | None = None) -> int:
    """Flip one bit of a file in place, keeping its size and permission bits (bit rot).

    DVC makes cache and remote files read-only; this makes the file writable for the
    moment of the change and restores its mode. Returns the offset of the changed byte
    (the middle of the file unless ``offset`` is given).
    """
    path = Path(path)
    mode = stat.S_IMODE(path.stat().st_mode)
    data = bytearray(path.read_bytes())
    if not data:
        raise ValueError(f"{path} is empty: nothing to corrupt")
    offset = len(data) // 2 if offset is None else offset
    data[offset] ^= 0x01
    path.chmod(mode | stat.S_IWUSR)
    try:
        path.write_bytes(bytes(data))
    finally:
        path.chmod(mode)
    return offset
