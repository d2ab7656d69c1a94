# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python (mlops-course)
#     language: python
#     name: mlops-course
# ---

# %% [markdown]
# # Lesson 3 — Environments, Git and containers
#
# Lesson 1's notebook worked on one laptop, and two rows of its problem table said what
# happens next: *"works on my laptop": breaks elsewhere*, and *files in one person's
# folder: nobody else can rerun it*. This lesson fixes both. First it shows, for real,
# the same code behaving differently under two dependency sets; then how the course pins
# its environment and what goes into Git (and what does not); and finally it packs lesson
# 8's prediction service into a container image — built here, offline, with Podman or
# Docker — runs it, and asks it for a prediction. Lecture notes:
# `lectures/03-environments-containers.md`.
#
# **After this lesson you can**
# 1. explain why the same code breaks under another dependency set, and show it with two
#    throwaway environments and a comparison of what they contain;
# 2. tell a version range (`pyproject.toml`) from a lock file (`constraints.txt`) and a
#    conda `environment.yml`, and capture an environment with versions and a digest;
# 3. say what belongs in Git, in DVC and in the tracking store, and keep notebooks
#    reviewable in Git (Jupytext pairs, no outputs in exercises);
# 4. read a multi-stage `Dockerfile` (base image as a build argument, non-root user,
#    `HEALTHCHECK`, `.dockerignore`), lint it, build it and explain the layer cache;
# 5. run the service's container on 127.0.0.1, check its health and a prediction, and
#    remove it — and read a `compose.yaml` that adds a tracking server.

# %% tags=["parameters"]
from mlops_course import config

FAST = config.fast_default()  # fast mode: no cold (no-cache) build, a smaller demo (CI)
SEED = 42

# %% [markdown]
# ## Setup
# The containers part needs an engine: Podman or Docker (same command line). The course
# package finds one on PATH (`mlops_course.containers.find_engine`); without one, this
# notebook says so and prints the commands instead of running them.

# %%
import json
import os
import platform
import re
import shutil
import subprocess
import tomllib
import uuid
from importlib import metadata

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display
from packaging.utils import canonicalize_name

from mlops_course import containers
from mlops_course.bench import environment_report
from mlops_course.course.results import record_metrics
from mlops_course.data import TARGET, read_housing_csv
from mlops_course.service.bundle import default_model_path, export_bundle, resolve_model

SEED = config.set_seed(SEED)
WORK = config.work_dir("03_environments_containers")
ROOT = config.project_root()
DEMO_ROWS = 1_000 if FAST else 5_000
engine = containers.find_engine()
print(f"FAST={FAST}; {platform.processor() or platform.machine()}, "
      f"{environment_report()['cores available']} cores; working in {WORK}")
print(f"container engine: {f'{engine.name} {engine.version} ({engine.path})' if engine else 'none'}")

# %% [markdown]
# ## The problem, shown: same code, two dependency sets
# Lesson 8 exports the house-price model to ONNX with `skl2onnx`, which builds the ONNX
# graph with Google's `protobuf`. `onnx` (which `skl2onnx` builds on) accepts any
# `protobuf>=6.31.1`, so a fresh `pip install` today may give protobuf 7 — and a colleague who installed last
# month has protobuf 6. Below, two throwaway environments run the **same script**: each
# is a venv made without pip and without a download that sees the course's packages; the
# second has protobuf 7 unpacked into its own site-packages, which come first on its
# `sys.path`. The protobuf 7 wheel is fetched once into `build/containers/wheelhouse/`
# (a package registry, like the base image below: setup, not lesson).

# %%
SCRIPT = f'''
import warnings; warnings.filterwarnings("ignore")
from importlib.metadata import version
import numpy as np, onnxruntime as ort
from sklearn.ensemble import HistGradientBoostingRegressor
from skl2onnx import to_onnx
from mlops_course.data import load_housing
df = load_housing().sample({DEMO_ROWS}, random_state={SEED})
X = df.select_dtypes("number").drop(columns="{TARGET}").fillna(0).to_numpy(np.float32)
y = df["{TARGET}"].to_numpy()
model = HistGradientBoostingRegressor(max_iter=50, random_state={SEED}).fit(X, y)
print("protobuf", version("protobuf"))
try:
    onx = to_onnx(model, X[:1])
    sess = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    got = sess.run(None, {{sess.get_inputs()[0].name: X}})[0].ravel()
    print(f"converted: max |ONNX - scikit-learn| = ${{float(np.max(np.abs(got - model.predict(X)))):.2f}}")
except Exception as exc:
    cause = exc.__cause__ or exc.__context__ or exc
    print(f"FAILED: {{type(exc).__name__}} ... caused by {{type(cause).__name__}}: "
          f"{{str(cause).splitlines()[0][:120]}}")
'''
protobuf7 = containers.fetch_demo_wheel("protobuf>=7,<8")
envs = {"A (the course's lock)": containers.throwaway_env(WORK / "env-a")}
if protobuf7 is not None:
    envs["B (protobuf 7)"] = containers.throwaway_env(WORK / "env-b", [protobuf7])
else:
    print("no protobuf 7 wheel (offline and not fetched before): only environment A runs.\n"
          "To see B: `mlops-course image base` once with network, then run this again.")
procs = {name: subprocess.Popen([str(env.python), "-c", SCRIPT], cwd=ROOT, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                env={**os.environ, "OMP_NUM_THREADS": "1"})
         for name, env in envs.items()}  # both at once: one core each
outputs = {name: proc.communicate(timeout=600)[0].strip() for name, proc in procs.items()}
for name, out in outputs.items():
    print(f"--- environment {name}\n{out}")
demo_broken = "FAILED" in outputs.get("B (protobuf 7)", "")
demo_ok_in_a = "converted" in outputs["A (the course's lock)"]
gap_a = re.search(r"= \$([0-9.]+)", outputs["A (the course's lock)"])
gap_a_usd = float(gap_a.group(1)) if gap_a else float("nan")

# %% [markdown]
# Same script, same data, same Python: environment A converts the model (the cents of
# difference are ONNX's 32-bit floats), environment B fails inside `skl2onnx` when it
# writes the tree ensemble's attributes. Nothing in the code changed; one package
# version did. This is *works on my machine* in its most common form.
#
# ### Comparing environments
# The first thing to do when the same code behaves differently: list both environments
# and compare. `containers.freeze` reads every installed distribution the way `pip
# freeze` does (the first one on `sys.path` wins, as for `import`); a digest of the sorted
# `name==version` lines makes "are these the same environment?" a one-line check. Then
# the check `pip check` makes — does every installed package's requirement hold? — done by
# `containers.check_requirements` from the same metadata (`python -m pip --python ENV
# check` gives the same answer).

# %%
frozen = {name: containers.freeze(env.python) for name, env in envs.items()}
for name, pins in frozen.items():
    print(f"{name}: {len(pins)} distributions, digest "
          f"{containers.environment_digest(pins)[:16]}")
names = list(frozen)
env_diff = containers.diff_environments(frozen[names[0]], frozen[names[-1]])
print("differences:", env_diff or "none")
pip_check = {name: containers.check_requirements(env.python) for name, env in envs.items()}
for name, problems in pip_check.items():
    print(f"pip check in {name}: {problems or 'no broken requirements'}")
onnx_wants = [r for r in metadata.requires("onnx") or [] if r.startswith("protobuf")]
print(f"onnx {metadata.version('onnx')} requires: {onnx_wants}")

# %% [markdown]
# The comparison names the culprit at once: one package, `protobuf`. The requirement
# check flags environment B only because of **our** requirement: the course's
# `pyproject.toml` says `protobuf>=6.31.1,<7` (the upper bound was added when this break
# was found). `onnx` itself asks for `protobuf>=6.31.1` with no upper bound (printed
# below), so without the course's line `pip check` would have passed and the conversion
# still failed: a consistent environment is not a tested one.
#
# ## How the course pins its environment
# Three files, three jobs:
#
# | file | says | used by |
# | --- | --- | --- |
# | `pyproject.toml` | what the code needs: ranges (`pandas>=2.2`) and known breaks (`<7`) | `pip install -e .` — resolves to the newest that fit, today |
# | `constraints.txt` | the exact version of every package, dependencies included (a lock) | `make setup`: `pip install -c constraints.txt -e ".[dev]"` |
# | `environment.yml` | the same packages for conda users (Python itself from conda) | `conda env create -f environment.yml` |

# %%
pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
ranges = [d for d in pyproject["project"]["dependencies"] if d.startswith(("protobuf", "pandas"))]
lock = {canonicalize_name(name): version for name, version in (
    line.split("==", 1) for line in (ROOT / "constraints.txt").read_text().splitlines()
    if "==" in line and not line.startswith("#"))}
course_pins = {canonicalize_name(n): v for n, v in containers.freeze().items()}
unpinned = sorted(set(course_pins) - set(lock) - {"mlops-course"})
# torch's CPU wheel calls itself 2.13.0+cpu: the "+cpu" is a local label, not another release
lock_matches = all(course_pins.get(n, v).split("+")[0] == v for n, v in lock.items())
print(f"pyproject.toml (ranges): {ranges}")
print(f"constraints.txt: {len(lock)} exact pins, e.g. protobuf=={lock['protobuf']}, "
      f"numpy=={lock['numpy']}, scikit-learn=={lock['scikit-learn']}")
print(f"this kernel's venv: {len(course_pins)} distributions; every pinned version installed "
      f"as locked: {lock_matches}; installed but not in the lock: {unpinned or 'none'}")
print(f"environment digest of this venv: {containers.environment_digest(course_pins)[:16]}")

# %% [markdown]
# Ranges say what *may* work, the lock says what *was tested*. The course's setup
# installs the lock (`make setup`) so that every student, CI and the container below get
# the same versions; `make lock` re-resolves the ranges and rewrites `constraints.txt`
# in one reviewed commit, and a weekly CI job installs the newest versions on purpose to
# find the next break early (lesson 10). Hashes go one step further (`pip install
# --require-hashes`, or `uv`/`pip-tools` lock files with `--hash=sha256:…`): the same
# version from a tampered mirror is refused.
#
# ## Git for ML projects: what goes where
# Git holds what people write and review; DVC holds the large files Git should only
# point to (lesson 4); the tracking store holds what runs produce (lesson 5). The
# `.gitignore` keeps the rest out.

# %%
probe_paths = [".venv/bin/python", "data/housing.csv", "build/dvc/model.joblib",
               "build/mlflow/mlflow.db", "notebooks/03_environments_containers.py",
               "dvc.lock", "constraints.txt"]
ignored = subprocess.run(["git", "check-ignore", "--verbose", "--non-matching", *probe_paths],
                         cwd=ROOT, capture_output=True, text=True)
in_git = ignored.returncode in (0, 1)
where = {"data/housing.csv": "DVC (lesson 4) / the data loader", ".venv/bin/python":
         "rebuilt from constraints.txt", "build/dvc/model.joblib": "DVC cache and remote",
         "build/mlflow/mlflow.db": "the tracking store (lesson 5)"}
rows = []
for line in ignored.stdout.splitlines() if in_git else []:
    source, _, path = line.partition("\t")
    rule = source.split(":", 2)[-1] if source.strip(":") else ""
    rows.append({"path": path, "in Git": "no" if rule else "yes",
                 ".gitignore rule": rule or "-", "lives in": where.get(path, "Git")})
if rows:
    display(pd.DataFrame(rows).set_index("path"))
else:
    print("not a Git checkout here (the student edition ships without .git): "
          "`git check-ignore -v PATH` shows which .gitignore line keeps PATH out")

# %% [markdown]
# Notebooks are JSON with outputs inside: diffs of images and execution counts drown the
# change a reviewer wants to see. The course keeps each lesson as a **Jupytext pair**
# (`jupytext.toml`): the `.py` file is the source you edit and review, the `.ipynb` holds
# the outputs of a full run for reading on a code host. Exercises are stored with **no
# outputs** (a pre-commit hook and a test check it).

# %%
pair_py = ROOT / "notebooks" / "03_environments_containers.py"
pair_nb = pair_py.with_suffix(".ipynb")
exercise_outputs = 0
for path in sorted((ROOT / "exercises").glob("*.ipynb")):
    cells = json.loads(path.read_text())["cells"]
    exercise_outputs += sum(len(c.get("outputs", [])) for c in cells if c["cell_type"] == "code")
print(f"this lesson: {pair_py.name} {pair_py.stat().st_size / 1e3:.0f} kB (source), "
      f"{pair_nb.name} {pair_nb.stat().st_size / 1e3 if pair_nb.exists() else 0:.0f} kB "
      "(with stored outputs)")
print(f"outputs stored in exercises/*.ipynb: {exercise_outputs}")
head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT,
                      capture_output=True, text=True)
dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                       capture_output=True, text=True)
print(f"commit of this checkout: {head.stdout.strip() or 'unknown (no Git)'}; uncommitted "
      f"changes: {bool(dirty.stdout.strip()) if head.returncode == 0 else 'unknown'}")

# %% [markdown]
# That last line is what lesson 5 records with every training run (`git.commit`,
# `git.dirty` tags, from `mlops_course.tracking.git_state`): a run on a dirty checkout
# can't be traced back to code, so the tracking tags say so.
#
# ## Containers: the service as an image
# A virtual environment pins Python packages; it does not pin the operating system, the
# system libraries (glibc, OpenMP) or Python itself. A **container image** does: a stack
# of read-only filesystem **layers** plus a configuration (entrypoint, user, ports, health
# check). An engine (Docker, or Podman with the same command line) builds images from a
# `Dockerfile`, runs them as isolated processes, and pushes and pulls them through a
# **registry**. Here is the service's `Dockerfile`, at the repository's root:

# %% tags=["nbval-check-output"]
print((ROOT / "Dockerfile").read_text())

# %% [markdown]
# What to notice:
# - **two stages**: the builder installs the wheels into a venv; the runtime stage copies
#   only that venv and the model — no pip, no wheel files, no build tools in the image;
# - **the base image is a build argument**: `python:3.11-slim-bookworm` from a registry,
#   or (here, offline) the course's own Debian bookworm made with `debootstrap`;
# - `--no-index`: pip installs only the wheels in the context, never from the network;
# - a **non-root user** (uid 10001), a **`HEALTHCHECK`**, and the model **baked in** at
#   `/models/current` (mount another bundle there to change the model without a build).
#
# `hadolint` lints Dockerfiles (pinned base tags, `--no-cache-dir`, `USER`, shell pitfalls):

# %% tags=["nbval-check-output"]
lint = containers.hadolint()
print(f"hadolint {ROOT / 'Dockerfile'}: {len(lint)} findings" +
      "".join(f"\n  line {f['line']}: {f['code']} {f['message']}" for f in lint))

# %% [markdown]
# ### What goes into the image: wheels made offline
# The build must not download anything. Instead of `pip download` from an index, the
# course **repacks the distributions already installed in its venv** into wheels: each
# one's `RECORD` lists its files, the original `WHEEL` tags are kept (CPython 3.11,
# manylinux), and the files are written sorted with fixed dates — so the same venv gives
# byte-identical wheels, and the engine's cache sees an unchanged context. The image gets
# only what the service imports: FastAPI, uvicorn, pydantic, numpy, ONNX Runtime,
# prometheus-client and their dependencies — no pandas, scikit-learn, torch or Jupyter.

# %%
wheels = containers.prepare_wheels()
serving = set(wheels.pins)
all_sizes = {}
for dist in metadata.distributions():
    name = dist.metadata["Name"]
    all_sizes.setdefault(name, sum(f.size or 0 for f in dist.files or []))
venv_mb = sum(all_sizes.values()) / 1e6
serving_mb = sum(v for k, v in all_sizes.items() if k in serving) / 1e6
print(f"{len(serving)} serving distributions + the course's serving modules, "
      f"{wheels.size_bytes / 1e6:.1f} MB of wheels in {wheels.folder} "
      f"(prepared in {wheels.seconds:.1f} s)")
print(f"installed size: {serving_mb:.0f} MB for serving vs {venv_mb:,.0f} MB for the whole "
      f"course venv ({len(all_sizes)} distributions)")
print("heavy packages left out:", [p for p in ("torch", "scikit-learn", "pandas", "jupyterlab",
                                               "mlflow") if p not in serving])

# %% [markdown]
# ### The base image and the model
# The base image is made once per machine (`mlops-course image base`, about a minute:
# `debootstrap --variant=minbase --include=python3 bookworm`, then `tar | podman
# import`) and found again by its tag, which carries a hash of its recipe. The model is
# the DVC pipeline's (lesson 4), exported into lesson 8's ONNX serving bundle.

# %%
source = resolve_model(None, quiet=False)
bundle_dir = export_bundle(source)
bundle_meta = json.loads((bundle_dir / "bundle.json").read_text())
print(f"bundle {bundle_dir.name}: model.onnx {(bundle_dir / 'model.onnx').stat().st_size / 1e3:.0f}"
      f" kB, test RMSE ${bundle_meta['metrics'].get('test_rmse_usd', float('nan')):,.0f}")
COMMANDS = f"""\
podman build --format docker --build-arg BASE_IMAGE={containers.base_image_tag()} \\
    -t {containers.IMAGE}:latest build/image/context
podman run -d --name house-prices -p 127.0.0.1:8000:8000 {containers.IMAGE}:latest
curl -s http://127.0.0.1:8000/health
podman rm -f house-prices"""
if engine is None:
    print("No container engine on this machine: the image is not built here. The steps "
          "(`mlops-course image build` does the first):\n" + COMMANDS)
else:
    base = containers.ensure_base_image(engine)
    print(f"base image {base.tag}: {base.size_bytes / 1e6:.0f} MB, "
          f"{'made now' if base.created else 'already on this machine'} ({base.seconds:.1f} s)")

# %% [markdown]
# ### Build: cold, then cached
# The build context (`build/image/context/`) holds the `Dockerfile`, the `.dockerignore`,
# the wheels, pip's own wheel and the bundle. A **cold** build (`--no-cache`) runs every
# step; a second build of an unchanged context takes every layer from the cache. Then
# the model alone changes (a new `bundle.json`): only the layers from `COPY bundle/` on
# are rebuilt — which is why the model is copied last. (Fast mode builds once: cached
# when this machine built the image before.)

# %%
TAG = f"{containers.IMAGE}:lesson-{uuid.uuid4().hex[:8]}"
builds = {}
if engine is not None:
    context = containers.prepare_context(bundle_dir, wheels, WORK / "context")
    print("context:", sorted(str(p.relative_to(context)) for p in context.rglob("*")
                             if p.is_file() and p.parent.name != "wheels"),
          f"+ {len(list((context / 'wheels').glob('*.whl')))} wheels")
    if not FAST:  # (unnamed images of earlier builds are pruned first: they don't pile up)
        builds["cold"] = containers.build_image(engine, context, tag=TAG, no_cache=True)
    builds["cached"] = containers.build_image(engine, context, tag=TAG)
    if not FAST:
        meta = json.loads((context / "bundle" / "bundle.json").read_text())
        meta["note"] = "a new model version"
        (context / "bundle" / "bundle.json").write_text(json.dumps(meta, indent=1))
        builds["new model"] = containers.build_image(engine, context, tag=TAG + "-model")
        containers.remove_image(engine, TAG + "-model")
    display(pd.DataFrame({k: {"seconds": round(b.seconds, 1), "steps from cache":
                              b.cached_steps, "size MB": round(b.size_bytes / 1e6)}
                          for k, b in builds.items()}).T)
else:
    print("no engine: no build")

# %% [markdown]
# The cached build takes every step from the cache. The new-model build (full mode)
# takes every step before `COPY bundle/` from the cache and reruns that one and the
# metadata steps after it — what it adds is the bundle's few hundred kilobytes. Order a
# `Dockerfile` from what changes least (OS, dependencies) to what changes most (model,
# code).
#
# ### Layers and size
# `history` lists the layers with the instruction that made each one. Metadata steps
# (`ENV`, `USER`, `HEALTHCHECK`, …) add 0 bytes.

# %%
if engine is not None:
    history = containers.image_history(engine, TAG)
    image_cfg = containers.image_config(engine, TAG)
    image_size_mb = containers.image_size_bytes(engine, TAG) / 1e6
    def layer_name(text: str) -> str:
        return ("base OS + Python" if text.startswith("ADD") else "serving venv"
                if "/opt/venv" in text else "model bundle" if "/models" in text
                else "user and group" if "useradd" in text else text[:20])

    layers = pd.DataFrame([{"layer": layer_name(text), "instruction": text[:60],
                            "MB": size / 1e6} for text, size in history if size > 0])
    display(layers.round(2))
    metadata_steps = [text for text, size in history if size == 0]
    print(f"+ {len(metadata_steps)} metadata steps of 0 bytes: "
          f"{sorted({text.split()[0] for text in metadata_steps})}")
    print(f"image {TAG}: {image_size_mb:.0f} MB; user {image_cfg['user']}; health check "
          f"{'set' if image_cfg['healthcheck'] else 'MISSING'}; ports {image_cfg['exposed_ports']}")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6), width_ratios=[3, 2])
    positions = list(range(len(layers)))
    ax1.barh(positions, layers["MB"], color="tab:blue")
    ax1.set_yticks(positions, layers["layer"])
    ax1.invert_yaxis()  # oldest layer on top, as in the Dockerfile
    for y, mb in zip(positions, layers["MB"], strict=True):
        ax1.text(mb, y, f" {mb:,.2f} MB", va="center")
    ax1.set_xlabel("layer size (MB, uncompressed)")
    ax1.set_title(f"the service's image: {image_size_mb:.0f} MB in {len(layers)} layers")
    ax1.set_xlim(0, layers["MB"].max() * 1.35)
    ax2.bar(["course venv", "serving only"], [venv_mb, serving_mb], color=["grey", "tab:blue"])
    for x, mb in enumerate([venv_mb, serving_mb]):
        ax2.text(x, mb, f"{mb:,.0f} MB", ha="center", va="bottom")
    ax2.set_ylabel("installed packages (MB)")
    ax2.set_title("Python packages")
    ax2.set_ylim(0, venv_mb * 1.15)
    fig.suptitle("The image is the OS and the serving packages; the model is a small last "
                 "layer, and torch, scikit-learn and Jupyter stay out", fontsize=10)
    fig.tight_layout()
    plt.show()
else:
    image_size_mb = float("nan")
    print("no engine: no image")

# %% [markdown]
# ### Run it
# The container runs detached (`-d`: an attached `docker run` through Podman's Docker
# socket hangs), under its own name, with port 8000 published on **127.0.0.1 only** and
# a free host port; it also runs with a read-only root filesystem, no Linux capabilities
# and limits on memory and processes. Start-up time is from the `run` command to the
# first answer of `/health`. Then: the image's own `HEALTHCHECK`, one prediction, one
# bad request, who the process runs as, and what Python packages are inside.

# %%
ROW = read_housing_csv(default_model_path().parent / "prepared" / "test.csv").drop(
    columns=TARGET).iloc[0]
row = {k: (None if pd.isna(v) else v.item() if hasattr(v, "item") else v)
       for k, v in ROW.items()}
run = {}
if engine is not None:
    with containers.run_container(engine, TAG) as box:
        run["startup_s"] = box.startup_s
        run["health"] = box.health()
        run["predict"] = box.post("/predict", row)
        run["bad"] = box.post("/predict", {**row, "median_income": "high"})
        run["uid"] = engine.run("exec", box.name, "id", "-u").stdout.strip()
        run["inside"] = engine.run(  # what Python finds inside the running container
            "exec", box.name, "python", "-c", "import importlib.util as u, importlib.metadata as"
            " m; print(sum(1 for _ in m.distributions()), [p for p in ('torch', 'sklearn', "
            "'pandas', 'jupyter', 'mlflow', 'pip') if u.find_spec(p)])").stdout.strip()
        run["name"] = box.name
    run["left_behind"] = containers.leftover_containers(engine)
    status, answer = run["predict"]
    print(f"container {run['name']} answered after {run['startup_s']:.1f} s; "
          f"HEALTHCHECK: {run['health']}; runs as uid {run['uid']}")
    print(f"POST /predict -> {status}: ${answer['median_house_value']:,.0f} "
          f"(model {answer['model_version']})")
    print(f"bad request -> {run['bad'][0]}: {json.dumps(run['bad'][1])[:150]}")
    print(f"removed: containers of this course still present: {run['left_behind'] or 'none'}")
else:
    print("no engine: the commands would be\n" + COMMANDS)

# %% [markdown]
# Is it the same model as on the host? The host's ONNX Runtime session on the same
# bundle gives the same dollar value for the same row:

# %%
from mlops_course.accelerate import onnx_session  # noqa: E402
from mlops_course.service.bundle import load_bundle, rows_to_inputs  # noqa: E402

host_bundle = load_bundle(bundle_dir)
session = onnx_session(host_bundle.onnx_path)
host_usd = float(session.run(None, rows_to_inputs(ROW.to_frame().T.infer_objects(),
                                                  host_bundle.categories))[0].ravel()[0])
container_usd = run["predict"][1]["median_house_value"] if run else float("nan")
print(f"host: ${host_usd:,.2f}; container: ${container_usd:,.2f}")
if engine is not None:
    n_inside, heavy_inside = run["inside"].split(" ", 1)
    print(f"inside the image: {n_inside} Python distributions; heavy or build-only "
          f"packages found: {heavy_inside.strip()}")

# %% [markdown]
# ### The model mounted instead of baked in
# Baked in, the image *is* the model version: what was tested is what runs, and a
# rollback is "run the previous tag". Mounted, one image serves any bundle: faster to
# change, but the image no longer says which model it serves — the service's
# `/metadata` does. The same image, with the bundle folder mounted read-only and the
# `CMD` overridden (full mode; the container's user, uid 10001, must be able to read the
# folder, hence a copy with world-readable modes):

# %%
mounted_answer, mounted_version = (None, {}), None
if engine is not None and not FAST:
    readable = WORK / "mounted-bundle"
    shutil.rmtree(readable, ignore_errors=True)
    shutil.copytree(bundle_dir, readable, ignore=shutil.ignore_patterns("*.jsonl"))
    readable.chmod(0o755)
    for path in readable.iterdir():
        path.chmod(0o644)
    with containers.run_container(engine, TAG, volumes=[(str(readable), "/models/mounted")],
                                  args=["--bundle", "/models/mounted"]) as mounted:
        mounted_answer = mounted.post("/predict", row)
        mounted_version = mounted.get("/metadata")[1].get("version")
    print(f"mounted bundle: {mounted_answer[0]}, ${mounted_answer[1]['median_house_value']:,.0f}"
          f", model {mounted_version}")
if engine is not None:
    containers.remove_image(engine, TAG)  # the name goes; the layers stay, as the cache
    print(f"image {TAG} removed; course containers left: "
          f"{containers.leftover_containers(engine) or 'none'}")

# %% [markdown]
# ## Compose: the service and a tracking server
# Real applications are several containers: here, the service and an MLflow tracking
# server (lesson 5). `compose.yaml` declares both — images, ports (127.0.0.1 only), a
# named volume for MLflow's database, health checks, and "start the service once the
# tracking server is healthy". `docker compose up -d` (or `podman compose`, Podman ≥ 4.7
# with a compose provider) starts them on one private network where each finds the other
# by its service name (`http://tracking:5000`).

# %%
compose = containers.check_compose()
display(pd.DataFrame(compose).T)
compose_cli = None
if engine is not None:
    for args in (["compose", "version"],):
        probe = engine.run(*args, check=False)
        compose_cli = probe.returncode == 0
print("compose here:", "available" if compose_cli else
      "not available (Podman 4.3 from Debian has no `compose`, podman-compose is not "
      "installed): the file is checked, not run")

# %% [markdown]
# ## Checks

# %%
assert demo_ok_in_a and gap_a_usd < 1.0, "environment A (the lock) converts the model (cents)"
assert onnx_wants == ["protobuf>=6.31.1"], f"onnx sets no upper bound: {onnx_wants}"
assert protobuf7 is None or demo_broken, "environment B (protobuf 7) fails the conversion"
assert protobuf7 is None or [d[0] for d in env_diff] == ["protobuf"], env_diff
assert protobuf7 is None or len(pip_check["B (protobuf 7)"]) == 1, \
    "pip check flags B, through the course's own <7 bound"
assert lock_matches, "the venv holds the locked versions"
assert exercise_outputs == 0, "exercises are stored without outputs"
assert lint == [], f"hadolint is clean: {lint}"
assert not {"torch", "scikit-learn", "pandas", "jupyterlab", "mlflow"} & serving
assert set(compose) == {"service", "tracking"}
if engine is not None:
    if not FAST:
        assert builds["cached"].cached_steps >= 10, "an unchanged context builds from the cache"
        dockerfile_lines = (ROOT / "Dockerfile").read_text().splitlines()
        first = next(i for i, line in enumerate(dockerfile_lines) if line.startswith("COPY bundle/"))
        steps_from_bundle = sum(1 for line in dockerfile_lines[first:]
                                if re.match(r"^[A-Z]+ ", line))
        assert builds["new model"].cached_steps == builds["cached"].cached_steps - \
            steps_from_bundle, "a new model reruns COPY bundle/ and the steps after it only"
        assert builds["cold"].cached_steps == 0, "--no-cache runs every step"
        assert builds["cached"].seconds < builds["cold"].seconds, "the cache saves time"
    assert image_cfg["user"] == "10001:10001" and image_cfg["healthcheck"], image_cfg
    assert run["predict"][0] == 200 and run["bad"][0] == 422, run
    assert run["health"] == "healthy" and run["uid"] == "10001", run
    assert abs(container_usd - host_usd) < 0.01, "the container serves the same model"
    assert heavy_inside.strip() == "[]", heavy_inside
    assert FAST or (mounted_answer[0] == 200 and mounted_version == bundle_meta["version"])
    assert run["left_behind"] == [] and containers.leftover_containers(engine) == []
    assert image_size_mb < 500, "lecture: 'about a third of a gigabyte'"
image_metrics = {} if engine is None else {  # only where an engine built and ran it
    "image_size_mb": round(image_size_mb),
    "build_s": round(builds["cached"].seconds, 1),
    **({"build_cold_s": round(builds["cold"].seconds, 1)} if "cold" in builds else {}),
    "startup_s": round(run["startup_s"], 1),
    "container_matches_host": abs(container_usd - host_usd) < 0.01,
}
record_metrics(
    engine=engine.name if engine else "none",
    demo_b_fails=demo_broken,
    environments_differ_in=len(env_diff),
    serving_distributions=len(serving),
    hadolint_findings=len(lint),
    exercise_outputs=exercise_outputs,
    **image_metrics,
)

# %% [markdown]
# The throwaway environments and the build context live in the lesson's work folder
# under `build/`; the containers and the image are gone. Nothing else was written.

# %%
shutil.rmtree(WORK / "env-a", ignore_errors=True)
shutil.rmtree(WORK / "env-b", ignore_errors=True)
print(f"removed the throwaway environments from {WORK}")

# %% [markdown]
# ## Recap and next
# | lesson 1's problem | what fixed it here |
# | --- | --- |
# | "works on my laptop": breaks elsewhere | a lock file (`constraints.txt`) installed everywhere; an environment compared by its versions and a digest; the service in an image that carries OS, Python and packages |
# | files in one person's folder: nobody else can rerun it | code, configuration and the lock in Git (`.gitignore` keeps the rest out); data and models in DVC (lesson 4); one `Dockerfile` and `compose.yaml` anyone can build and run |
#
# Lesson 4 versions the data and the models that this image bakes in; lesson 8 built the
# service that runs inside it; lesson 10's CI builds and tests on every push.
#
# **Exercise:** `exercises/03_environments_containers.ipynb` — compare two environments
# from their `pip freeze` text, and review a Dockerfile for the problems this lesson
# avoids (root user, no health check, an unpinned base, secrets, a model copied before
# the dependencies).
