"""The ML Test Score (Breck et al., 2017) of the course's own house-price system.

The rubric has four sections — data, model, infrastructure, monitoring — of tests an ML
system in production should have. A test done by hand, with its result documented,
earns half a point; one that runs automatically earns a full point. A section's score is
the sum of its points, and the system's ML Test Score is the *lowest* section score: a
system is as ready as its weakest part.

Nothing here is hand-filled. Every rubric item names the check that earns it:

* ``automated`` items run a real check of the system now (a test of the data, the
  model, the pipeline or the workflows) and earn 1 point when it passes; a check that
  fails makes :func:`run_audit` report it and ``mlops-course audit`` exit with status 1;
* ``manual`` items earn 0.5 when the lesson that does the test by hand is on disk and
  still does it (its notebook contains the call that shows it);
* items the course does not address earn 0 and say so.

    mlops-course audit [--rows N]
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlops_course import config
from mlops_course.errors import MlopsCourseError

SECTIONS = ("data", "model", "infrastructure", "monitoring")


class AuditError(MlopsCourseError):
    """An automated check of the audit failed: the score would be a lie."""


@dataclass
class Item:
    """One rubric item: its section, what Breck et al. ask, and how this course earns it."""

    section: str
    test: str
    kind: str  # "automated", "manual" or "missing"
    check: str  # the name of the check or the evidence
    run: Callable[[dict[str, Any]], str] | None = None  # automated: returns a detail line
    evidence: tuple[str, str] | None = None  # manual: (notebook glob, text it contains)


@dataclass
class Outcome:
    item: Item
    points: float
    status: str  # "pass", "FAILED", "manual", "missing"
    detail: str


@dataclass
class AuditReport:
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0

    def section_scores(self) -> dict[str, float]:
        return {s: sum(o.points for o in self.outcomes if o.item.section == s) for s in SECTIONS}

    @property
    def score(self) -> float:
        """The ML Test Score: the lowest section score."""
        return min(self.section_scores().values())

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "FAILED"]

    def format(self) -> str:
        lines = []
        scores = self.section_scores()
        for section in SECTIONS:
            lines.append(f"\n{section.upper()}  ({scores[section]:g} points)")
            for o in (o for o in self.outcomes if o.item.section == section):
                lines.append(f"  [{o.status:^7}] {o.points:>3g}  {o.item.test}")
                lines.append(f"             {o.item.kind}: {o.item.check} — {o.detail}")
        automated = sum(o.status == "pass" for o in self.outcomes)
        manual = sum(o.status == "manual" for o in self.outcomes)
        lines.append(f"\n{automated} automated, {manual} manual, "
                     f"{sum(o.status == 'missing' for o in self.outcomes)} not addressed, "
                     f"{len(self.failed)} failed")
        lines.append("ML Test Score (lowest section): "
                     f"{self.score:g}  [" + ", ".join(f"{s} {scores[s]:g}" for s in SECTIONS)
                     + "]")
        return "\n".join(lines)


# -- the automated checks -------------------------------------------------------------------

def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise AuditError(message)


def _schema(ctx: dict[str, Any]) -> str:
    from mlops_course.validation import check_housing

    _, report = check_housing(ctx["df"])
    _expect(len(report) == 0, f"{len(report)} schema problems in the housing data")
    return f"{len(ctx['df']):,} rows meet the declared schema"


def _feature_code(ctx: dict[str, Any]) -> str:
    import pandas as pd

    from mlops_course.features import DerivedFeatures

    frame = pd.DataFrame({"total_rooms": [600.0], "total_bedrooms": [120.0],
                          "population": [300.0], "households": [100.0]})
    out = DerivedFeatures().fit(frame).transform(frame).iloc[0]
    got = (out["rooms_per_household"], out["bedrooms_ratio"], out["population_per_household"])
    _expect(got == (6.0, 0.2, 3.0), f"DerivedFeatures gives {got}, worked out by hand: "
            "(6.0, 0.2, 3.0)")
    return "DerivedFeatures matches ratios worked out by hand"


def _splits(ctx: dict[str, Any]) -> str:
    from mlops_course.checks import split_overlap

    overlap = split_overlap(ctx["ref"]["train"], ctx["ref"]["test"])
    _expect(overlap["shared_index"] == 0 and overlap["shared_feature_rows"] == 0,
            f"train and test share rows: {overlap}")
    return "train and test share no rows (index or feature values)"


def _leak(ctx: dict[str, Any]) -> str:
    from mlops_course.checks import target_correlations

    corr = target_correlations(ctx["df"])
    _expect(corr.max() < 0.9, f"{corr.index[0]} correlates {corr.max():.2f} with the target")
    return f"strongest feature {corr.index[0]} at |r| = {corr.max():.2f} < 0.9"


def _params(ctx: dict[str, Any]) -> str:
    from mlops_course.pipeline import load_params

    params = load_params(config.project_root() / "params.yaml")
    return f"params.yaml checked: {sum(len(v) for v in params.values())} parameters, versioned"


def _baseline(ctx: dict[str, Any]) -> str:
    from mlops_course.checks import baseline_rmse_usd, quality_gate

    ref = ctx["ref"]
    base = baseline_rmse_usd(ref["train"]["median_house_value"], ref["y_test"])
    _expect(quality_gate(ref["rmse_usd"], base, min_improvement=0.3),
            f"model ${ref['rmse_usd']:,.0f} is not 30% below the mean baseline ${base:,.0f}")
    return f"model ${ref['rmse_usd']:,.0f} vs mean baseline ${base:,.0f}"


def _slices(ctx: dict[str, Any]) -> str:
    from mlops_course.checks import slice_rmse

    ref = ctx["ref"]
    table = slice_rmse(ref["model"].predict, ref["X_test"], ref["y_test"])
    worst = table.iloc[0]
    _expect(worst["vs_overall"] < 1.5, f"slice {worst['ocean_proximity']} is "
            f"{worst['vs_overall']:.2f}x the overall RMSE")
    return f"worst slice {worst['ocean_proximity']} at {worst['vs_overall']:.2f}x overall RMSE"


def _behaviour(ctx: dict[str, Any]) -> str:
    from mlops_course.checks import directional_drops, invariance_gap_usd

    ref = ctx["ref"]
    gaps = invariance_gap_usd(ref["model"].predict, ref["X_test"])
    drops = directional_drops(ref["model"].predict, ref["X_test"])
    _expect(max(gaps.values()) < 0.01, f"predictions change with row order or extra columns: "
            f"{gaps}")
    _expect(drops["share_dropped"] < 0.10 and drops["median_change_usd"] > 0,
            f"higher income lowers predictions: {drops}")
    return (f"invariant (max ${max(gaps.values()):.2g}); +$10k income: median "
            f"+${drops['median_change_usd']:,.0f}, {drops['share_dropped']:.1%} drop")


def _reproducible(ctx: dict[str, Any]) -> str:
    from mlops_course.checks import fit_reference_model

    again = fit_reference_model(ctx["rows"], seed=config.DEFAULT_SEED)
    gap = float(np.max(np.abs(again["model"].predict(ctx["ref"]["X_test"])
                              - ctx["ref"]["model"].predict(ctx["ref"]["X_test"]))))
    _expect(gap == 0.0, f"two seeded trainings differ by ${gap:,.2f}")
    return "two seeded trainings predict identically"


def _pipeline(ctx: dict[str, Any]) -> str:
    from mlops_course import pipeline

    train_df, test_df = pipeline.prepare(ctx["df"], max_rows=2_000)
    model = pipeline.train(train_df, log=False, max_iter=20)
    metrics = pipeline.evaluate(model, test_df, log=False)
    _expect(np.isfinite(metrics["test_rmse_usd"]), "the pipeline's RMSE is not finite")
    return f"prepare -> train -> evaluate on 2,000 rows: ${metrics['test_rmse_usd']:,.0f}"


def _workflows(ctx: dict[str, Any]) -> str:
    workflows = load_workflows()
    ci = workflows.get("ci.yml")
    _expect(ci is not None, "no .github/workflows/ci.yml")
    commands = " ".join(workflow_commands(ci))
    _expect("pytest" in commands or "make test" in commands, "CI does not run the tests")
    return f"{len(workflows)} workflows; CI runs lint, tests and the lessons"


def _scheduled(ctx: dict[str, Any]) -> str:
    workflows = load_workflows()
    scheduled = [name for name, w in workflows.items() if "schedule" in (_on(w) or {})
                 and "make lock" in workflow_commands(w)]
    _expect(bool(scheduled), "no workflow re-resolves the dependencies (`make lock`) on a "
            "schedule")
    return f"{', '.join(scheduled)} runs on a schedule with the newest dependencies"


def _serving_inputs(ctx: dict[str, Any]) -> str:
    from mlops_course.validation import split_valid_rows

    batch = ctx["df"].drop(columns="median_house_value").head(500).copy()
    batch.loc[batch.index[:5], "median_income"] *= 10_000  # dollars, not $10,000s
    valid, rejected = split_valid_rows(batch, target=False)
    _expect(len(rejected) == 5, f"the schema caught {len(rejected)} of 5 unit errors")
    return "serving batches are validated: 5 of 5 planted unit errors rejected"


def _skew(ctx: dict[str, Any]) -> str:
    from mlops_course.checks import prediction_parity_usd

    ref = ctx["ref"]
    X = ref["X_test"].head(200)
    def one_at_a_time(rows: Any) -> np.ndarray:  # how a request-per-row service calls it
        return np.concatenate([ref["model"].predict(rows.iloc[[i]]) for i in range(len(rows))])

    gap = prediction_parity_usd(ref["model"].predict, one_at_a_time, X.head(5))
    _expect(gap < 1.0, f"one row at a time differs from the batch by ${gap:,.2f}")
    return f"single-row serving path = batch path (max gap ${gap:.2g})"


def _drift(ctx: dict[str, Any]) -> str:
    from mlops_course.drift import psi

    income = ctx["df"]["median_income"].to_numpy()
    clean = psi(income[::2], income[1::2])
    shifted = psi(income[::2], income[1::2] * 1.3)
    _expect(clean < 0.1 < shifted, f"PSI clean {clean:.3f}, shifted {shifted:.3f}")
    return f"PSI clean {clean:.3f} < 0.1 < income +30% {shifted:.3f}"


def _on(workflow: dict[str, Any]) -> Any:
    return workflow.get("on", workflow.get(True))  # YAML 1.1 reads `on:` as True


def load_workflows() -> dict[str, dict[str, Any]]:
    """The project's GitHub Actions workflows, parsed: ``{file name: workflow}``."""
    import yaml

    folder = config.project_root() / ".github" / "workflows"
    return {p.name: yaml.safe_load(p.read_text(encoding="utf-8"))
            for p in sorted(folder.glob("*.yml"))}


def workflow_commands(workflow: dict[str, Any]) -> list[str]:
    """Every command line of every ``run:`` step of a workflow (continuations joined)."""
    commands = []
    for job in workflow.get("jobs", {}).values():
        for step in job.get("steps", []):
            script = step.get("run")
            if script:
                text = script.replace("\\\n", " ")
                commands += [line.strip() for line in text.splitlines()
                             if line.strip() and not line.strip().startswith("#")]
    return commands


# -- the rubric -----------------------------------------------------------------------------

def rubric() -> list[Item]:
    """The 28 tests of Breck et al. (2017), each with how the course earns it."""
    A, M, X = "automated", "manual", "missing"
    return [
        Item("data", "Feature expectations are captured in a schema", A,
             "validation.check_housing", _schema),
        Item("data", "All features are beneficial", M, "lesson 2: features measured one by one",
             evidence=("02_*.py", "bedrooms_ratio")),
        Item("data", "No feature's cost is too much", X, "not measured in the course"),
        Item("data", "Features adhere to meta-level requirements", A,
             "checks.target_correlations (no disguised target)", _leak),
        Item("data", "The data pipeline has appropriate privacy controls", X,
             "public census data; not addressed"),
        Item("data", "New features can be added quickly", M, "lesson 5: geo features behind "
             "a parameter", evidence=("05_*.py", "features=")),
        Item("data", "All input feature code is tested", A,
             "tests/model/test_feature_code.py; DerivedFeatures by hand", _feature_code),
        Item("model", "Model specs are reviewed and submitted", A,
             "pipeline.load_params (params.yaml in git, checked)", _params),
        Item("model", "Offline and online metrics correlate", M,
             "lesson 9: error per day once labels arrive", evidence=("09_*.py", "error_by_window")),
        Item("model", "All hyperparameters have been tuned", M, "lesson 5: Optuna search",
             evidence=("05_*.py", "tune(")),
        Item("model", "The impact of model staleness is known", M,
             "lesson 9: decay per day and its alert", evidence=("09_*.py", "decay")),
        Item("model", "A simpler model is not better", A,
             "checks.quality_gate vs the mean baseline", _baseline),
        Item("model", "Model quality is sufficient on important data slices", A,
             "checks.slice_rmse by ocean_proximity", _slices),
        Item("model", "The model is tested for considerations of inclusion", A,
             "checks.invariance_gap_usd + directional_drops", _behaviour),
        Item("infrastructure", "Training is reproducible", A,
             "two seeded fits of checks.fit_reference_model", _reproducible),
        Item("infrastructure", "Model specs are unit tested", A,
             "tests/model/ (run by .github/workflows/ci.yml)", _workflows),
        Item("infrastructure", "The ML pipeline is integration tested", A,
             "pipeline.prepare -> train -> evaluate", _pipeline),
        Item("infrastructure", "Model quality is validated before serving", M,
             "lesson 5: tracking.promote_if_better gate",
             evidence=("05_*.py", "promote_if_better")),
        Item("infrastructure", "The model can be debugged on a single example", M,
             "lesson 10: checks.overfit_tiny_batch", evidence=("10_*.py", "overfit_tiny_batch")),
        Item("infrastructure", "Models are canaried before serving", M,
             "lesson 8: canary split", evidence=("08_*.py", "canary")),
        Item("infrastructure", "Serving models can be rolled back", M,
             "lesson 8: rollback", evidence=("08_*.py", "rollback")),
        Item("monitoring", "Dependency changes result in notification", A,
             "scheduled workflow with the newest versions", _scheduled),
        Item("monitoring", "Data invariants hold in training and serving inputs", A,
             "validation.split_valid_rows on a serving batch", _serving_inputs),
        Item("monitoring", "Training and serving features compute the same values", A,
             "checks.prediction_parity_usd (row vs batch)", _skew),
        Item("monitoring", "Models are not too stale", M, "lesson 9: decay alert",
             evidence=("09_*.py", "decay_alert")),
        Item("monitoring", "Models are numerically stable", X, "NaN/inf not watched in serving"),
        Item("monitoring", "Computing performance has not regressed", M,
             "lesson 9: p95 latency from Prometheus", evidence=("09_*.py", "p95")),
        Item("monitoring", "Prediction quality has not regressed", A,
             "drift.psi on income, a label-free proxy", _drift),
    ]


def _evidence(item: Item) -> tuple[bool, str]:
    pattern, text = item.evidence or ("", "")
    found = sorted(config.notebooks_dir().glob(pattern))
    if found and text in found[0].read_text(encoding="utf-8"):
        return True, f"{found[0].name} contains `{text}`"
    return False, f"no notebooks/{pattern} containing `{text}`"


def run_audit(*, rows: int | None = 6_000, items: list[Item] | None = None) -> AuditReport:
    """Run every automated check, look up every manual item's evidence, score them."""
    from threadpoolctl import threadpool_limits

    start = time.perf_counter()
    with threadpool_limits(limits=1):  # small batches: threads cost more than they give
        report = _run(rows, items)
    report.seconds = time.perf_counter() - start
    return report


def _run(rows: int | None, items: list[Item] | None) -> AuditReport:
    from mlops_course import data
    from mlops_course.checks import fit_reference_model

    ctx: dict[str, Any] = {"df": data.load_housing(), "rows": rows,
                           "ref": fit_reference_model(rows)}
    report = AuditReport()
    for item in items or rubric():
        if item.kind == "automated" and item.run is not None:
            try:
                detail, points, status = item.run(ctx), 1.0, "pass"
            except Exception as exc:  # a broken check scores 0 and fails the audit
                detail, points, status = f"{type(exc).__name__}: {exc}", 0.0, "FAILED"
        elif item.kind == "manual":
            ok, detail = _evidence(item)
            points, status = (0.5, "manual") if ok else (0.0, "missing")
        else:
            detail, points, status = "no check", 0.0, "missing"
        report.outcomes.append(Outcome(item, points, status, detail))
    return report
