"""JupyterLab, set up for the course: ``make lab`` (``mlops-course lab``).

The settings go into the course's environment (``sys.prefix``), so they hold for every
``jupyter lab`` started from it and touch nothing in the user's home:

* ``etc/jupyter/jupyter_server_config.json``: kernels talk to the server over local IPC
  sockets (:class:`LabKernelManager`: no TCP ports, no "running over TCP without
  encryption" warning), and a kernel that no tab uses any more is shut down after
  :data:`IDLE_KERNEL_TIMEOUT_S` (a forgotten lesson kernel held 1.4 GB);
* ``share/jupyter/lab/settings/overrides.json``: the lessons' ``.py`` files open as
  notebooks (Jupytext), closing a notebook shuts its kernel down, and no news or update
  pop-up covers the corner (nothing is fetched from the internet).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from jupyter_client.ioloop import AsyncIOLoopKernelManager

from mlops_course import config
from mlops_course.errors import MlopsCourseError

IDLE_KERNEL_TIMEOUT_S = 1800
# the longest path of a Unix socket: sizeof(sockaddr_un.sun_path) - 1
IPC_PATH_MAX = 103 if sys.platform == "darwin" else 107


def ipc_fits(connection_file: str) -> bool:
    """Whether the kernel's IPC sockets (named after its connection file) can exist here:
    Unix only, and a socket path has at most :data:`IPC_PATH_MAX` characters."""
    stem = os.path.splitext(os.path.abspath(connection_file))[0] if connection_file else ""
    return os.name == "posix" and bool(stem) and len(f"{stem}-ipc-99") <= IPC_PATH_MAX


class LabKernelManager(AsyncIOLoopKernelManager):
    """JupyterLab's kernel manager for the course: local IPC sockets where their paths fit
    (they do in Jupyter's usual runtime folder), TCP on loopback otherwise."""

    def __init__(self, **kwargs: Any) -> None:
        if "transport" not in kwargs and ipc_fits(kwargs.get("connection_file") or ""):
            kwargs["transport"] = "ipc"
        super().__init__(**kwargs)


SERVER_CONFIG: dict[str, Any] = {
    "MappingKernelManager": {
        "kernel_manager_class": f"{__name__}.LabKernelManager",
        "cull_idle_timeout": IDLE_KERNEL_TIMEOUT_S,  # idle kernels with no tab open ...
        "cull_interval": 300,
        "cull_connected": False,  # ... only: a kernel that a tab still shows stays
        "cull_busy": False,
    },
    "LabApp": {"news_url": None,  # no news feed, no update check: nothing from the internet
               "check_for_updates_class": "jupyterlab.NeverCheckForUpdate"},
}

LAB_SETTINGS: dict[str, Any] = {
    "@jupyterlab/docmanager-extension:plugin": {
        "defaultViewers": {"python": "Jupytext Notebook"}},
    "@jupyterlab/notebook-extension:tracker": {"kernelShutdown": True},
    "@jupyterlab/apputils-extension:notification": {
        "fetchNews": "false", "checkForUpdates": False},
}


_OBSOLETE = {"KernelManager": {"transport": "ipc"}}  # what an earlier version wrote


def _merge_json(path: Path, wanted: dict[str, Any]) -> bool:
    """Write ``wanted`` into the JSON object at ``path``, keeping other keys; True if
    the file changed."""
    current: dict[str, Any] = {}
    if path.exists():
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
            current = loaded if isinstance(loaded, dict) else {}
        except ValueError:
            current = {}
    merged = dict(current)
    for section, values in _OBSOLETE.items():
        old = merged.get(section)
        if isinstance(old, dict):
            kept = {k: v for k, v in old.items() if values.get(k, object()) != v}
            merged[section] = kept
            if not kept:
                del merged[section]
    for section, values in wanted.items():
        old = merged.get(section)
        merged[section] = {**old, **values} if isinstance(old, dict) else dict(values)
    if merged == current and path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return True


def server_config_path(prefix: Path | None = None) -> Path:
    # the main file: traitlets reads server settings from it (a ``.d`` folder only enables
    # extensions)
    return Path(prefix or sys.prefix) / "etc" / "jupyter" / "jupyter_server_config.json"


def lab_settings_path(prefix: Path | None = None) -> Path:
    return Path(prefix or sys.prefix) / "share" / "jupyter" / "lab" / "settings" / \
        "overrides.json"


def configure_lab(prefix: Path | None = None) -> list[Path]:
    """Write the course's server config and JupyterLab settings into ``prefix`` (default:
    this environment). Idempotent; returns the files that changed."""
    changed = []
    if _merge_json(server_config_path(prefix), SERVER_CONFIG):
        changed.append(server_config_path(prefix))
    if _merge_json(lab_settings_path(prefix), LAB_SETTINGS):
        changed.append(lab_settings_path(prefix))
    return changed


def lab_command(extra: list[str] | None = None) -> list[str]:
    """The ``jupyter lab`` command line for the course checkout."""
    jupyter = Path(sys.executable).with_name("jupyter")
    if not jupyter.exists():
        found = shutil.which("jupyter")
        if not found:
            raise MlopsCourseError("JupyterLab is not installed in this environment. "
                                   "Fix: run `make setup`.")
        jupyter = Path(found)
    command = [str(jupyter), "lab", f"--notebook-dir={config.project_root()}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # JupyterLab refuses root otherwise (containers)
    return command + list(extra or [])


def run_lab(extra: list[str] | None = None) -> int:
    """Configure, then replace this process by JupyterLab (Ctrl-C stops it)."""
    configure_lab()
    command = lab_command(extra)
    print("$ " + " ".join(command), flush=True)
    if os.name == "posix":
        os.execv(command[0], command)  # does not return
        raise AssertionError("unreachable")
    import subprocess

    return subprocess.call(command)
