"""What of ``assessment/`` goes into the student edition, and what must never.

Students get the briefs, the rubrics, the starters and the viva guide's student part
(:func:`student_files`). Reference solutions, the viva question banks (model answers), the
instructor part of the guide and the instructors' overview stay behind; their lines are
secrets the release's leak scan looks for (:func:`assessment_secrets`).
"""

from __future__ import annotations

from pathlib import Path

from mlops_course.course.assessment.checker import ASSIGNMENTS, assessment_dir
from mlops_course.course.assessment.viva import INSTRUCTOR_BEGIN, INSTRUCTOR_END, student_guide

_SKIP = ("__pycache__", ".pytest_cache")


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()
                  and not any(part in _SKIP for part in p.parts))


def student_files() -> dict[str, str | None]:
    """``{path relative to the checkout and the edition: text}`` of the assessment material
    students get (``None``: copy the file as it is)."""
    root = assessment_dir()
    files: dict[str, str | None] = {}
    for name in ASSIGNMENTS:
        for leaf in ("brief.md", "rubric.yaml"):
            files[f"assessment/{name}/{leaf}"] = (root / name / leaf).read_text(encoding="utf-8")
        for path in _files(root / name / "starter"):
            files[str(path.relative_to(root.parent))] = None
    guide = (root / "viva" / "guide.md").read_text(encoding="utf-8")
    files["assessment/viva/guide.md"] = student_guide(guide)
    return files


def assessment_secrets() -> list:  # -> list[release.Secret]
    """The lines of the reference solutions, the viva banks and the guide's instructor part."""
    from mlops_course.course.release import TOP_LEVEL_FILES, Secret, _searchable, _stripped

    root = assessment_dir()
    # configuration the course itself ships (its dvc.yaml, workflows, pyproject.toml, the
    # lesson notebooks' outputs) shares lines like `runs-on: ubuntu-latest` or `params:`
    # with the reference solutions; those lines give nothing away
    common: set[str] = set()
    for path in [*(root.parent / n for n in TOP_LEVEL_FILES),
                 *(root.parent / "notebooks").glob("*.ipynb")]:
        if path.is_file():
            common.update(_stripped(_searchable(path, path.read_text("utf-8", "replace"))))
    secrets = []
    for name in ASSIGNMENTS:
        for path in _files(root / name / "reference"):
            try:
                text = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue
            lines = tuple(line for line in _stripped(text) if line not in common)
            secrets.append(Secret(f"{path.relative_to(root.parent)} (reference solution)",
                                  lines))
    for path in _files(root / "viva" / "questions"):
        secrets.append(Secret(f"{path.relative_to(root.parent)} (viva model answers)",
                              tuple(_stripped(path.read_text(encoding="utf-8")))))
    guide = (root / "viva" / "guide.md").read_text(encoding="utf-8")
    if INSTRUCTOR_BEGIN in guide:
        part = guide.split(INSTRUCTOR_BEGIN, 1)[1].split(INSTRUCTOR_END, 1)[0]
        secrets.append(Secret("assessment/viva/guide.md (instructor part)",
                              tuple(_stripped(part))))
    return secrets
