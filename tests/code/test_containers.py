"""Lesson 3's system module: wheels repacked offline, the Dockerfile and compose.yaml as the
lesson describes them, environment comparison, and the service's image really built and
run with whichever engine is present (skipped without one on a laptop; never when CI=true).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

from mlops_course import containers
from mlops_course.data import make_synthetic_housing

IN_CI = os.environ.get("CI", "").lower() == "true"


def test_repacked_wheel_is_deterministic_and_complete(tmp_path: Path) -> None:
    dist = metadata.distribution("idna")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = containers.repack_wheel(dist, tmp_path / "a")
    second = containers.repack_wheel(dist, tmp_path / "b")
    assert first.name == second.name == f"idna-{dist.version}-py3-none-any.whl"
    assert first.read_bytes() == second.read_bytes(), "same venv, same wheel bytes"
    with zipfile.ZipFile(first) as wheel:
        names = wheel.namelist()
        record = wheel.read(f"idna-{dist.version}.dist-info/RECORD").decode().splitlines()
        for line in record:
            name, digest, _size = line.rsplit(",", 2)
            if digest:  # RECORD lists itself without a hash
                data = wheel.read(name)
                assert digest == "sha256=" + base64.urlsafe_b64encode(
                    hashlib.sha256(data).digest()).rstrip(b"=").decode()
    assert "idna/__init__.py" in names and not [n for n in names if n.endswith(".pyc")]
    assert not [n for n in names if n.endswith(("INSTALLER", "direct_url.json"))]


def test_serving_dependencies_leave_the_heavy_stack_out() -> None:
    names = {d.metadata["Name"].lower() for d in containers.serving_distributions()}
    assert {"onnxruntime", "fastapi", "uvicorn", "numpy", "pydantic"} <= names
    assert not {"torch", "scikit-learn", "pandas", "jupyterlab", "mlflow", "skl2onnx"} & names


def test_dockerfile_is_hadolint_clean_and_says_what_the_lesson_says() -> None:
    assert containers.hadolint() == []
    text = containers.dockerfile().read_text()
    assert text.count("\nFROM ${BASE_IMAGE}") == 2, "two stages on the chosen base"
    assert "--no-index" in text and "HEALTHCHECK" in text and "USER 10001:10001" in text
    ignore = (containers.dockerfile().parent / ".dockerignore").read_text()
    assert ignore.splitlines()[3] == "**", ".dockerignore starts by excluding everything"


def test_compose_file_is_checked(tmp_path: Path) -> None:
    services = containers.check_compose()
    assert set(services) == {"service", "tracking"}
    assert services["service"]["depends_on"] == ["tracking"]
    bad = tmp_path / "compose.yaml"
    bad.write_text("services:\n  web:\n    image: x\n    ports: ['8000:8000']\n")
    with pytest.raises(containers.ContainerError, match="not bound to 127.0.0.1"):
        containers.check_compose(bad)


def test_environments_are_compared_by_versions_and_digest() -> None:
    a = {"numpy": "2.4.6", "protobuf": "6.33.6"}
    b = {"numpy": "2.4.6", "protobuf": "7.36.2", "extra": "1.0"}
    assert containers.diff_environments(a, b) == [("extra", "-", "1.0"),
                                                   ("protobuf", "6.33.6", "7.36.2")]
    assert containers.environment_digest(a) == containers.environment_digest(dict(reversed(
        a.items()))), "order does not matter"
    assert containers.environment_digest(a) != containers.environment_digest(b)


def test_throwaway_env_sees_the_course_stack_with_a_package_swapped(tmp_path: Path) -> None:
    # a fake "protobuf 99" wheel: the throwaway env must prefer it to the course's
    wheel = tmp_path / "protobuf-99.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("protobuf-99.0.dist-info/METADATA",
                         "Metadata-Version: 2.1\nName: protobuf\nVersion: 99.0\n")
    env = containers.throwaway_env(tmp_path / "env", [wheel])
    pins = containers.freeze(env.python)
    assert pins["protobuf"] == "99.0" and "mlops-course" in pins
    problems = containers.check_requirements(env.python)
    assert any("protobuf" in p and "99.0" in p for p in problems), problems
    done = containers.run_python(env.python, "import mlops_course, numpy; print('ok')")
    assert done.stdout.strip() == "ok", done.stderr


# -- the real thing -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def engine() -> containers.Engine:
    found = containers.find_engine()
    if found is None:
        if IN_CI:
            pytest.fail("CI=true but no container engine (podman or docker) works: "
                        ".ci/run installs podman and runc")
        pytest.skip("no container engine (podman or docker) on this machine")
    return found


@pytest.fixture(scope="module")
def synthetic_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mlops_course import pipeline
    from mlops_course.service.bundle import ModelSource, export_bundle

    train = make_synthetic_housing(600, seed=1)
    model = pipeline.train(train, log=False, max_iter=20)
    source = ModelSource(model, "house-prices", "synthetic-v1", "test", "abc")
    folder = export_bundle(source, tmp_path_factory.mktemp("bundle") / "v1",
                           check_rows=make_synthetic_housing(200, seed=2), reference_rows=train)
    return folder


@pytest.fixture(scope="module")
def image(engine: containers.Engine, synthetic_bundle: Path,
          tmp_path_factory: pytest.TempPathFactory) -> containers.Build:
    """The service's image on the synthetic model (cached layers but the model's), removed
    at the end of the module."""
    tag = f"{containers.IMAGE}:test-{os.getpid()}"
    try:
        context = containers.prepare_context(synthetic_bundle, containers.prepare_wheels(),
                                             tmp_path_factory.mktemp("context") / "c")
        yield containers.build_image(engine, context, tag=tag,
                                     base=containers.ensure_base_image(engine).tag)
    finally:
        containers.remove_image(engine, tag)
        assert not engine.image_exists(tag)


def test_image_builds_runs_serves_and_leaves_nothing(engine: containers.Engine,
                                                     image: containers.Build) -> None:
    cfg = containers.image_config(engine, image.tag)
    assert cfg["user"] == "10001:10001" and cfg["healthcheck"], cfg
    assert 150e6 < image.size_bytes < 600e6, image.size_bytes
    row = make_synthetic_housing(1, seed=3).drop(columns="median_house_value").iloc[0]
    body = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
    with containers.run_container(engine, image.tag) as box:
        status, answer = box.post("/predict", body)
        assert status == 200 and answer["model_version"] == "synthetic-v1", answer
        assert box.post("/predict", {**body, "median_income": "high"})[0] == 422
        assert box.health() == "healthy"
        assert engine.run("exec", box.name, "id", "-u").stdout.strip() == "10001"
        name = box.name
    assert name not in engine.run("ps", "--all", "--format", "{{.Names}}").stdout


def test_a_container_that_dies_is_reported_and_removed(engine: containers.Engine,
                                                       image: containers.Build,
                                                       tmp_path: Path) -> None:
    """A broken bundle mounted over the model: a clear error with the log, no leftovers."""
    broken = tmp_path / "broken"
    broken.mkdir()
    broken.chmod(0o755)
    (broken / "bundle.json").write_text(json.dumps({"not": "a bundle"}))
    (broken / "model.onnx").write_bytes(b"this is not ONNX")
    for path in broken.iterdir():
        path.chmod(0o644)
    before = set(containers.leftover_containers(engine))
    mounted = containers.run_container(engine, image.tag, volumes=[(str(broken), "/models/x")],
                                       args=["--bundle", "/models/x"])
    with pytest.raises(containers.ContainerError, match="stopped before it answered"), mounted:
        pass
    assert set(containers.leftover_containers(engine)) <= before
