"""Rubric reports: one Markdown (and JSON) report per student, one CSV for the class."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlops_course.course.assessment.checker import ProjectReport
    from mlops_course.course.assessment.runner import Limits

_MODES = {"namespaces": "sandboxed: no network, separate user, instructor folders hidden",
          "limits": "NOT isolated (not root here): time and memory limits only; the "
                    "repository ran with your user and network"}


def report_markdown(report: ProjectReport) -> str:
    """The report a student (and the instructor) reads."""
    from mlops_course.course.assessment.checker import load_rubric

    what = {i.id: i.what for i in load_rubric(report.assignment).items}
    lines = [f"# {report.title} — {_cell(report.student)}", "",
             f"Automated items: **{report.automated_points:g} / {report.automated_max:g} "
             f"points** (checked in {report.seconds:.0f} s; "
             f"{_MODES.get(report.mode, report.mode)})."]
    if report.error:
        lines += ["", f"**The repository could not be checked:** {report.error}"]
    lines += ["", "| item | points | what was found |", "| --- | --- | --- |"]
    for item in report.items:
        if item.automated:
            points = f"{item.points:g} / {item.max_points:g}" if item.points is not None \
                else f"– / {item.max_points:g}"
            lines.append(f"| `{item.id}` | {points} | {_cell(item.message)} |")
    lines += ["", "## For the instructor (judgement items, then the viva)", "",
              "| item | points | what to look for | mark |", "| --- | --- | --- | --- |"]
    for item in report.items:
        if not item.automated:
            lines.append(f"| `{item.id}` | {item.max_points:g} | {_cell(what[item.id])} | |")
    lines += ["", "Viva: see assessment/viva/guide.md (10–15 minutes, three levels)."]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return re.sub(r"\s+", " ", text).replace("|", "\\|")[:500]


def _safe_name(name: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "student"
    if safe != name:  # "a b" and "a_b" must not share (and overwrite) one report folder
        import hashlib

        safe += "-" + hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return safe


def _csv_text(text: str) -> str:
    """A cell a spreadsheet shows as text, never runs as a formula (``=cmd|...``)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def write_report(report: ProjectReport, out: Path) -> Path:
    """``OUT/<student>/report.md`` and ``report.json``; returns the folder."""
    folder = out / _safe_name(report.student)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.md").write_text(report.markdown(), encoding="utf-8")
    (folder / "report.json").write_text(json.dumps(asdict(report), indent=2) + "\n",
                                        encoding="utf-8")
    return folder


def write_class_csv(reports: list[ProjectReport], path: Path) -> Path:
    """One row per student: automated points per item, blank columns for the judgement
    items and the viva, the status and any error."""
    if not reports:
        raise ValueError("no reports to write")
    items = reports[0].items
    header = ["student", "assignment", "status", "automated_points", "automated_max",
              *(f"{i.id} (/{i.max_points:g})" for i in items if i.automated),
              *(f"{i.id} (/{i.max_points:g}, instructor)" for i in items if not i.automated),
              "viva", "seconds", "error"]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for report in reports:
            writer.writerow([_csv_text(report.student), report.assignment, report.status(),
                             f"{report.automated_points:g}", f"{report.automated_max:g}",
                             *(f"{i.points:g}" if i.points is not None else ""
                               for i in report.items if i.automated),
                             *("" for i in report.items if not i.automated), "",
                             f"{report.seconds:.0f}", _csv_text(report.error)])
    return path


def check_folder(assignment: str, folder: Path, out: Path, limits: Limits | None = None,
                 progress: Callable[[str], None] | None = None) -> list[ProjectReport]:
    """Check every repository (sub-folder) of ``folder``; one bad repository costs only its
    own row. Writes the reports and ``OUT/class.csv``."""
    from mlops_course.course.assessment.checker import check_project

    repos = sorted(p for p in Path(folder).iterdir()
                   if p.is_dir() and not p.is_symlink() and not p.name.startswith("."))
    if not repos:
        raise FileNotFoundError(f"{folder} holds no repository folders")
    reports = []
    for number, repo in enumerate(repos, 1):
        if progress:
            progress(f"[{number}/{len(repos)}] {repo.name}")
        report = check_project(assignment, repo, limits, student=repo.name)
        write_report(report, out)
        reports.append(report)
        write_class_csv(reports, out / "class.csv")  # written as it goes: a crash keeps rows
    return reports
