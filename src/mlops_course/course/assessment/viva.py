"""Viva material: the guide (students get its first part) and the question banks.

The banks live in ``assessment/viva/questions/NN-topic.yaml``, one per lesson, each with
questions at three levels (recall, explain, apply), a model answer and what a strong answer
contains. They are instructor material: the student edition carries only the guide's
student part (:func:`student_guide`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlops_course.course.assessment.checker import assessment_dir
from mlops_course.course.assessment.runner import CheckError
from mlops_course.course.release import ReleaseError, without_marked_blocks

LEVELS = ("recall", "explain", "apply")
INSTRUCTOR_BEGIN = "<!-- >>> instructor edition only -->"
INSTRUCTOR_END = "<!-- <<< instructor edition only -->"


@dataclass(frozen=True)
class Question:
    level: str
    question: str
    model_answer: str
    strong_answer: str


@dataclass(frozen=True)
class Bank:
    lesson: int
    title: str
    questions: tuple[Question, ...]
    path: Path


def questions_dir() -> Path:
    return assessment_dir() / "viva" / "questions"


def load_banks(lessons: list[str] | None = None) -> list[Bank]:
    """The question banks, in lesson order (``lessons``: numbers such as ``["1", "04"]``)."""
    import yaml

    folder = questions_dir()
    if not folder.is_dir():
        raise CheckError(f"{folder} is missing: the viva banks ship with the instructor "
                         "edition only")
    wanted = {int(n) for n in lessons} if lessons else None
    banks = []
    for path in sorted(folder.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if wanted is not None and int(data["lesson"]) not in wanted:
            continue
        questions = tuple(Question(q["level"], q["question"], q["model_answer"],
                                   q["strong_answer"]) for q in data["questions"])
        bad = [q.level for q in questions if q.level not in LEVELS]
        if bad or {q.level for q in questions} != set(LEVELS):
            raise CheckError(f"{path}: every bank needs questions at each level {LEVELS}; "
                             f"found {sorted({q.level for q in questions})}")
        banks.append(Bank(int(data["lesson"]), data["title"], questions, path))
    return banks


def render_bank(lessons: list[str] | None = None) -> str:
    """The banks as Markdown, with model answers (for instructors preparing a viva)."""
    out = []
    for bank in load_banks(lessons):
        out += [f"## Lesson {bank.lesson} — {bank.title}", ""]
        for level in LEVELS:
            for number, q in enumerate((q for q in bank.questions if q.level == level), 1):
                out += [f"**{level} {number}.** {q.question}", "",
                        f"- model answer: {q.model_answer}",
                        f"- a strong answer: {q.strong_answer}", ""]
    return "\n".join(out)


def student_guide(text: str) -> str:
    """The viva guide without its instructor part (between the instructor-only markers)."""
    try:
        return without_marked_blocks(text, INSTRUCTOR_BEGIN, INSTRUCTOR_END, "viva guide")
    except ReleaseError as exc:
        raise CheckError(str(exc)) from None
