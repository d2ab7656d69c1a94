"""The project's DVC pipeline stages (prepare -> train -> evaluate), run by ``dvc repro``
through ``mlops-course pipeline ...``. Lesson 4 builds this."""

from __future__ import annotations

from typing import Any


def add_commands(commands: Any) -> None:
    """Register the ``pipeline`` subcommands on the CLI's subparsers."""
    return None
