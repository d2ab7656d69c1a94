"""Serving bundles: a fitted course pipeline as one ONNX file plus its metadata.

    source = resolve_model(None)              # the DVC pipeline's model (built if missing)
    source = resolve_model("models:/house-prices@champion")   # lesson 5's registry
    bundle_dir = export_bundle(source)        # build/serving/bundles/<version>/
    bundle = load_bundle(bundle_dir)          # what the service loads: no scikit-learn

The ONNX graph holds the *training* preprocessing, read from the fitted pipeline: the
derived ratios (rooms and people per household, bedrooms per room, a zero denominator
giving NaN), median imputation with the imputer's learned medians, scaling with the
scaler's learned means and scales, one-hot encoding in the encoder's category order;
then the gradient-boosted trees (converted by :func:`mlops_course.accelerate.sklearn_to_onnx`,
lesson 6). Inputs: ``numeric`` (float64, the eight numeric fields of ``housing.csv`` in
order) and ``category`` (int64, the index of ``ocean_proximity``). The export compares
the bundle's answers with ``pipeline.predict`` on real rows and refuses to write a bundle
that differs by more than a dollar.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_course import config
from mlops_course.errors import MlopsCourseError

if TYPE_CHECKING:
    import pandas as pd

BUNDLE_FILE = "bundle.json"
ONNX_FILE = "model.onnx"
MODEL_NAME = "house-prices"
NUMERIC_INPUT, CATEGORY_INPUT = "numeric", "category"
PARITY_TOLERANCE_USD = 1.0
#: The raw request fields, in the order of the ONNX ``numeric`` input (housing.csv's order).
NUMERIC_FIELDS = ["longitude", "latitude", "housing_median_age", "total_rooms",
                  "total_bedrooms", "population", "households", "median_income"]
CATEGORY_FIELD = "ocean_proximity"


class ServingError(MlopsCourseError):
    """A model cannot be resolved, exported or served."""


class UnsupportedModelError(ServingError):
    """The pipeline has a step the ONNX export does not know (e.g. geographic features)."""


@dataclass
class ModelSource:
    """A fitted pipeline and what the service should say about it."""

    pipeline: Any
    name: str
    version: str
    origin: str
    model_sha256: str
    metrics: dict[str, Any] = field(default_factory=dict)
    data_digest: str | None = None


@dataclass(frozen=True)
class Bundle:
    """A loaded serving bundle: its folder and ``bundle.json``."""

    path: Path
    meta: dict[str, Any]

    @property
    def onnx_path(self) -> Path:
        return self.path / ONNX_FILE

    @property
    def version(self) -> str:
        return str(self.meta["version"])

    @property
    def categories(self) -> list[str]:
        return list(self.meta["schema"]["categories"])


# -- which model --------------------------------------------------------------------------

def default_model_path() -> Path:
    """The DVC pipeline's model: ``build/dvc/model.joblib`` (lesson 4's ``make repro``)."""
    return config.build_dir() / "dvc" / "model.joblib"


def build_default_model(*, quiet: bool = False) -> Path:
    """Run the DVC pipeline's stages (prepare, train, evaluate) into ``build/dvc/`` with
    the project's ``params.yaml``, if the model is missing; return the model's path.

    Runs the stages' functions directly (not ``dvc repro``, which would rewrite
    ``dvc.lock``): the same code and parameters give the same model bytes.
    """
    from mlops_course import pipeline

    model_path = default_model_path()
    prepared = model_path.parent / "prepared"
    if model_path.is_file() and (prepared / pipeline.TEST_CSV).is_file():
        return model_path
    model_path.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(model_path.parent / ".build.lock"):  # parallel tests: build once
        if model_path.is_file() and (prepared / pipeline.TEST_CSV).is_file():
            return model_path
        params = pipeline.load_params(config.project_root() / pipeline.PARAMS_FILE)
        if not quiet:
            print(f"no model at {model_path}: running the pipeline's stages (prepare, train, "
                  "evaluate) as `make repro` would")
        pipeline.run_prepare(params, prepared)
        pipeline.run_train(params, prepared, model_path)
        pipeline.run_evaluate(prepared, model_path, model_path.parent / "metrics.json")
    return model_path


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Any:
    """Hold an exclusive lock on ``lock_path`` (POSIX ``flock``; no lock elsewhere)."""
    try:
        import fcntl
    except ImportError:  # Windows: no lock
        yield
        return
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def resolve_model(spec: str | os.PathLike[str] | None = None, *, quiet: bool = True) -> ModelSource:
    """Load the model to serve: ``None`` (the DVC pipeline's model, built if missing), a
    path to a joblib file, or ``models:/NAME@ALIAS`` / ``models:/NAME/VERSION`` from the
    MLflow registry of lesson 5 (the store under ``build/mlflow``)."""
    import joblib

    from mlops_course.data import file_digest

    if spec is not None and str(spec).startswith("models:/"):
        return _resolve_registry(str(spec))
    path = Path(spec) if spec is not None else build_default_model(quiet=quiet)
    if not path.is_file():
        raise ServingError(
            f"No model file at {path}.\nFix: pass a joblib file written by the pipeline "
            "(`make repro` writes build/dvc/model.joblib), leave --model out to build the "
            "default one, or name a registered model: models:/house-prices@champion.")
    sha = file_digest(path)
    metrics: dict[str, Any] = {}
    metrics_file = path.with_name("metrics.json")
    if metrics_file.is_file():
        metrics = json.loads(metrics_file.read_text())
    train_csv = path.parent / "prepared" / "train.csv"
    digest = file_digest(train_csv) if train_csv.is_file() else None
    return ModelSource(joblib.load(path), MODEL_NAME, f"sha256-{sha[:12]}", str(path), sha,
                       metrics, digest)


def _resolve_registry(uri: str) -> ModelSource:
    from mlops_course import tracking

    match = re.fullmatch(r"models:/([^/@]+)(?:@([\w-]+)|/(\d+))", uri)
    if not match:
        raise ServingError(f"{uri!r} is not a registry address.\nFix: write "
                           "models:/NAME@ALIAS (e.g. models:/house-prices@champion) or "
                           "models:/NAME/VERSION.")
    name, alias, version = match.groups()
    if not tracking.is_enabled():
        tracking.setup_tracking()
    if version is None:
        version = tracking.resolve_version(name, alias)
    model = tracking.load_model(name, version=version)
    import mlflow

    mv = mlflow.MlflowClient().get_model_version(name, version)
    run = mlflow.MlflowClient().get_run(mv.run_id)
    import hashlib
    import pickle

    sha = hashlib.sha256(pickle.dumps(model)).hexdigest()
    metrics = {k: v for k, v in run.data.metrics.items()}
    digest = run.data.params.get("data.sha256") or run.data.tags.get("data.sha256")
    return ModelSource(model, name, f"{name}-v{version}", uri, sha, metrics, digest)


# -- the ONNX graph -----------------------------------------------------------------------

def _fitted_parts(pipeline: Any) -> dict[str, Any]:
    """The fitted pieces the export reads, or UnsupportedModelError saying what differs."""
    from mlops_course.features import (
        DERIVED_FEATURES,
        GEO_FEATURES,
        DerivedFeatures,
        GeoFeatures,
    )

    problem = None
    geo = False
    try:
        pre, model = pipeline.named_steps["preprocessor"], pipeline.named_steps["model"]
        steps = dict(pre.steps)
        derive, columns = steps["derive"], steps["columns"]
        geo = isinstance(steps.get("geo"), GeoFeatures)
        known = {"derive", "columns"} | ({"geo"} if geo else set())
        if set(steps) != known or not isinstance(derive, DerivedFeatures):
            problem = f"preprocessing steps {list(steps)}"
        transformers = {name: (est, cols) for name, est, cols in columns.transformers_
                        if name != "remainder"}
        numeric, numeric_cols = transformers["numeric"]
        encoder, cat_cols = transformers["categorical"]
        derived = [f for f in DERIVED_FEATURES
                   if derive.add_bedrooms_ratio or f != "bedrooms_ratio"]
        if geo:
            derived = [*derived, *GEO_FEATURES]
        if list(numeric_cols) != [*NUMERIC_FIELDS, *derived] or list(cat_cols) != [CATEGORY_FIELD]:
            problem = f"columns {list(numeric_cols)} + {list(cat_cols)}"
        imputer, scaler = numeric.named_steps["impute"], numeric.named_steps["scale"]
    except (KeyError, AttributeError, ValueError) as exc:
        problem = f"{type(exc).__name__}: {exc}"
    if problem:
        raise UnsupportedModelError(
            f"The ONNX export knows the course pipeline of lessons 2 and 4 (derived ratios, "
            f"imputation, scaling, one-hot, trees); this one differs ({problem}).\n"
            "Fix: serve a pipeline of the course's feature sets (params.yaml: features: "
            "base or geo), or extend pipeline_to_onnx with the extra step.")
    return {"model": model, "derived": derived, "geo": geo, "medians": imputer.statistics_,
            "means": scaler.mean_, "scales": scaler.scale_,
            "categories": [str(c) for c in encoder.categories_[0]]}


def pipeline_to_onnx(pipeline: Any, path: str | os.PathLike[str]) -> Path:
    """Write the whole fitted pipeline, preprocessing included, as one ONNX file."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from mlops_course.accelerate import sklearn_to_onnx

    parts = _fitted_parts(pipeline)
    path = Path(path)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # skl2onnx: bools for ints
        n_features = len(parts["medians"]) + len(parts["categories"])
        trees = onnx.load(str(sklearn_to_onnx(parts["model"], n_features, Path(tmp) / "t.onnx")))
    col = {name: i for i, name in enumerate(NUMERIC_FIELDS)}
    consts = {
        "zero": np.array(0.0), "nan": np.array(np.nan),
        "medians": np.asarray(parts["medians"], dtype=np.float64),
        "means": np.asarray(parts["means"], dtype=np.float64),
        "scales": np.asarray(parts["scales"], dtype=np.float64),
        "category_ids": np.arange(len(parts["categories"]), dtype=np.int64),
        **{f"i_{name}": np.array([i], dtype=np.int64) for name, i in col.items()},
    }
    inits = [numpy_helper.from_array(np.asarray(v), name=k) for k, v in consts.items()]
    nodes = []
    for name in ("total_rooms", "total_bedrooms", "population", "households"):
        nodes.append(helper.make_node("Gather", [NUMERIC_INPUT, f"i_{name}"], [name], axis=1))
    for name in ("households", "total_rooms"):  # a zero denominator gives NaN, as in training
        nodes += [helper.make_node("Equal", [name, "zero"], [f"{name}_is0"]),
                  helper.make_node("Where", [f"{name}_is0", "nan", name], [f"{name}_nz"])]
    ratios = {"rooms_per_household": ("total_rooms", "households_nz"),
              "bedrooms_ratio": ("total_bedrooms", "total_rooms_nz"),
              "population_per_household": ("population", "households_nz")}
    nodes += [helper.make_node("Div", list(ratios[d]), [d]) for d in ratios
              if d in parts["derived"]]
    extra = [d for d in parts["derived"] if d in ratios]
    if parts["geo"]:
        geo_nodes, geo_inits = _geo_graph()
        nodes += geo_nodes
        inits += geo_inits
        extra += ["km_to_city", "km_to_nearest_city", "coord_rotated"]
    nodes += [
        helper.make_node("Concat", [NUMERIC_INPUT, *extra], ["num"], axis=1),
        helper.make_node("IsNaN", ["num"], ["num_nan"]),
        helper.make_node("Where", ["num_nan", "medians", "num"], ["imputed"]),
        helper.make_node("Sub", ["imputed", "means"], ["centred"]),
        helper.make_node("Div", ["centred", "scales"], ["scaled"]),
        helper.make_node("Equal", [CATEGORY_INPUT, "category_ids"], ["onehot_bool"]),
        helper.make_node("Cast", ["onehot_bool"], ["onehot"], to=TensorProto.DOUBLE),
        helper.make_node("Concat", ["scaled", "onehot"], ["features64"], axis=1),
        helper.make_node("Cast", ["features64"], ["features32"], to=TensorProto.FLOAT),
    ]
    graph = helper.make_graph(
        nodes, "preprocessing",
        [helper.make_tensor_value_info(NUMERIC_INPUT, TensorProto.DOUBLE, [None, 8]),
         helper.make_tensor_value_info(CATEGORY_INPUT, TensorProto.INT64, [None, 1])],
        [helper.make_tensor_value_info("features32", TensorProto.FLOAT, [None, n_features])],
        inits)
    pre = helper.make_model(graph, opset_imports=list(trees.opset_import))
    pre.ir_version = trees.ir_version
    merged = onnx.compose.merge_models(pre, trees, io_map=[("features32", "features")])
    onnx.checker.check_model(merged)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(merged.SerializeToString())
    return path


def _geo_graph() -> tuple[list[Any], list[Any]]:
    """ONNX nodes for :class:`mlops_course.features.GeoFeatures`: haversine distances (km)
    to each city and to the nearest one, and the rotated coordinates, in float64 as in
    training except ``asin``, which ONNX Runtime only has in float32 (the export's parity
    check measures the effect)."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    from mlops_course.features import _EARTH_RADIUS_KM, CITIES, ROTATION_ANGLES

    city_lat = np.radians([lat for lat, _ in CITIES.values()])
    city_lon = np.radians([lon for _, lon in CITIES.values()])
    thetas = np.radians(ROTATION_ANGLES)
    consts = {"i_lon": np.array([0], dtype=np.int64), "i_lat": np.array([1], dtype=np.int64),
              "deg2rad": np.array(np.pi / 180), "two": np.array(2.0),
              "city_lat": city_lat, "city_lon": city_lon, "cos_city_lat": np.cos(city_lat),
              "diameter_km": np.array(2 * _EARTH_RADIUS_KM),
              "cos_theta": np.cos(thetas), "sin_theta": np.sin(thetas)}
    inits = [numpy_helper.from_array(np.asarray(v, dtype=v.dtype), name=k)
             for k, v in consts.items()]
    node = helper.make_node
    nodes = [
        node("Gather", [NUMERIC_INPUT, "i_lon"], ["lon_deg"], axis=1),
        node("Gather", [NUMERIC_INPUT, "i_lat"], ["lat_deg"], axis=1),
        node("Mul", ["lat_deg", "deg2rad"], ["lat_rad"]),
        node("Mul", ["lon_deg", "deg2rad"], ["lon_rad"]),
        node("Sub", ["lat_rad", "city_lat"], ["dlat"]),
        node("Div", ["dlat", "two"], ["dlat2"]),
        node("Sin", ["dlat2"], ["sin_dlat2"]),
        node("Mul", ["sin_dlat2", "sin_dlat2"], ["sin2_dlat2"]),
        node("Sub", ["lon_rad", "city_lon"], ["dlon"]),
        node("Div", ["dlon", "two"], ["dlon2"]),
        node("Sin", ["dlon2"], ["sin_dlon2"]),
        node("Mul", ["sin_dlon2", "sin_dlon2"], ["sin2_dlon2"]),
        node("Cos", ["lat_rad"], ["cos_lat"]),
        node("Mul", ["cos_lat", "cos_city_lat"], ["cos_cos"]),
        node("Mul", ["cos_cos", "sin2_dlon2"], ["term2"]),
        node("Add", ["sin2_dlat2", "term2"], ["h"]),
        node("Sqrt", ["h"], ["sqrt_h"]),
        node("Cast", ["sqrt_h"], ["sqrt_h32"], to=TensorProto.FLOAT),
        node("Asin", ["sqrt_h32"], ["asin32"]),
        node("Cast", ["asin32"], ["asin64"], to=TensorProto.DOUBLE),
        node("Mul", ["diameter_km", "asin64"], ["km_to_city"]),
        node("ReduceMin", ["km_to_city"], ["km_to_nearest_city"], axes=[1], keepdims=1),
        node("Mul", ["lon_deg", "cos_theta"], ["lon_cos"]),
        node("Mul", ["lat_deg", "sin_theta"], ["lat_sin"]),
        node("Add", ["lon_cos", "lat_sin"], ["coord_rotated"]),
    ]
    return nodes, inits


def rows_to_inputs(rows: pd.DataFrame, categories: list[str]) -> dict[str, Any]:
    """Housing rows (a DataFrame) as the bundle's ONNX inputs."""
    import numpy as np

    index = {c: i for i, c in enumerate(categories)}
    cat = np.array([index[str(c)] for c in rows[CATEGORY_FIELD]], dtype=np.int64)
    return {NUMERIC_INPUT: rows[NUMERIC_FIELDS].to_numpy(dtype=np.float64),
            CATEGORY_INPUT: cat.reshape(-1, 1)}


# -- bundles ------------------------------------------------------------------------------

def _reference_rows() -> pd.DataFrame:
    from mlops_course import pipeline
    from mlops_course.data import read_housing_csv

    build_default_model()
    return read_housing_csv(default_model_path().parent / "prepared" / pipeline.TRAIN_CSV)


def _check_rows() -> pd.DataFrame:
    from mlops_course import pipeline
    from mlops_course.data import read_housing_csv

    build_default_model()
    return read_housing_csv(default_model_path().parent / "prepared" / pipeline.TEST_CSV)


def export_bundle(
    source: ModelSource,
    out_dir: str | os.PathLike[str] | None = None,
    *,
    check_rows: pd.DataFrame | None = None,
    reference_rows: pd.DataFrame | None = None,
    force: bool = False,
) -> Path:
    """Write ``model.onnx`` and ``bundle.json`` for ``source``; return the folder.

    The default folder is ``build/serving/bundles/<version>``; an existing bundle of the
    same model (same sha256) is reused unless ``force``. ``check_rows`` (default: the DVC
    test split) are predicted both ways: more than :data:`PARITY_TOLERANCE_USD` apart
    anywhere and nothing is written. ``reference_rows`` (default: the DVC training split)
    give the reference histograms for drift.
    """
    import numpy as np

    from mlops_course import drift
    from mlops_course.accelerate import onnx_session
    from mlops_course.data import TARGET
    from mlops_course.validation import RANGES

    out = Path(out_dir) if out_dir else config.build_dir() / "serving" / "bundles" / source.version
    meta_path = out / BUNDLE_FILE
    if meta_path.is_file() and not force:
        meta = json.loads(meta_path.read_text())
        if meta.get("model_sha256") == source.model_sha256 and (out / ONNX_FILE).is_file():
            return out
    check = check_rows if check_rows is not None else _check_rows()
    reference = reference_rows if reference_rows is not None else _reference_rows()
    start = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}-"))
    try:
        onnx_path = pipeline_to_onnx(source.pipeline, tmp / ONNX_FILE)
        parts = _fitted_parts(source.pipeline)
        session = onnx_session(onnx_path)
        X = check.drop(columns=TARGET, errors="ignore")
        ours = session.run(None, rows_to_inputs(X, parts["categories"]))[0].ravel()
        theirs = np.asarray(source.pipeline.predict(X), dtype=float)
        gap = float(np.max(np.abs(ours - theirs)))
        if gap > PARITY_TOLERANCE_USD:
            raise ServingError(
                f"The ONNX bundle disagrees with the pipeline by up to ${gap:,.2f} on "
                f"{len(X):,} rows (tolerance ${PARITY_TOLERANCE_USD}). Nothing was written.\n"
                "Fix: a step is translated differently — the preprocessing graph "
                "(pipeline_to_onnx) or skl2onnx's conversion of the trees (seen with "
                "HistGradientBoosting and max_features < 1); serve the DVC pipeline's model "
                "(the default) until it is fixed.")
        ref_X = reference.drop(columns=TARGET, errors="ignore")
        ref_pred = np.asarray(source.pipeline.predict(ref_X), dtype=float)
        profile = drift.reference_profile(
            {**{f: ref_X[f].to_numpy(dtype=float) for f in NUMERIC_FIELDS},
             "prediction_usd": ref_pred})
        counts = ref_X[CATEGORY_FIELD].astype(str).value_counts()
        meta = {
            "name": source.name, "version": source.version, "origin": source.origin,
            "model_sha256": source.model_sha256, "training_data_sha256": source.data_digest,
            "metrics": source.metrics, "created_unix": round(time.time()),
            "parity": {"rows": len(X), "max_abs_diff_usd": gap},
            "schema": {
                "numeric": {f: _field_spec(f, RANGES[f], ref_X[f]) for f in NUMERIC_FIELDS},
                "categories": parts["categories"],
            },
            "reference": {"rows": len(ref_X), "numeric": profile,
                          "categories": {c: int(counts.get(c, 0)) for c in parts["categories"]}},
            "export_seconds": round(time.perf_counter() - start, 2),
        }
        (tmp / BUNDLE_FILE).write_text(json.dumps(meta, indent=1, default=_json_default,
                                                  allow_nan=False))
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _field_spec(name: str, declared: tuple[float, float, str], values: Any) -> dict[str, Any]:
    """A numeric field's range: the data schema's (lesson 2); a count with no upper bound
    there gets one here, ten times the largest training value (a typo guard)."""
    import math

    low, high, why = declared
    if math.isinf(high):
        high = float(10 * values.max())
        why = f"{why}; at most ten times the largest training district"
    return {"min": float(low), "max": float(high), "why": why,
            "nullable": name == "total_bedrooms"}


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to bundle.json")


def load_bundle(path: str | os.PathLike[str]) -> Bundle:
    """Read a bundle folder written by :func:`export_bundle`."""
    path = Path(path)
    meta_path = path / BUNDLE_FILE
    if not meta_path.is_file() or not (path / ONNX_FILE).is_file():
        raise ServingError(
            f"{path} is not a serving bundle (it needs {BUNDLE_FILE} and {ONNX_FILE}).\n"
            "Fix: export one: mlops_course.service.bundle.export_bundle(resolve_model()), "
            "or start the service with `mlops-course serve`, which exports it.")
    return Bundle(path, json.loads(meta_path.read_text()))
