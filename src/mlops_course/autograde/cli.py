"""``mlops-course grade``: grade a folder of student submissions (see issue: autograder)."""

from __future__ import annotations

import argparse
from typing import Any


def add_commands(commands: Any) -> None:
    """Register the ``grade`` subcommand on the CLI's subparsers."""
    grade = commands.add_parser("grade", help="grade a folder of student submissions")
    grade.set_defaults(func=_not_ready)


def _not_ready(args: argparse.Namespace) -> int:
    print("grading a folder of submissions is not implemented yet")
    return 2
