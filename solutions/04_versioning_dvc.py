# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python (mlops-course)
#     language: python
#     name: mlops-course
# ---

# %% [markdown]
# # Exercise 4 — The ideas inside DVC
#
# Lesson 4 used DVC as a tool. Here you build the three ideas it rests on, in plain
# Python and without DVC: a **content-addressed store** (a file is named by the hash of its
# bytes, so versions never overwrite each other and corruption is detectable), the
# **pipeline graph** (in which order stages run, and which must rerun after a change),
# and a **parameters diff** (what `dvc params diff` prints). Each part has public tests you
# can run here; graders also run hidden tests.

# %%
import hashlib
import os
import shutil
from pathlib import Path

from mlops_course.course.observe import raised

# The course pipeline, as dvc.yaml describes it (outputs and metrics are both "outs").
COURSE_PIPELINE = {
    "prepare": {"deps": ["data/housing.csv", "src/pipeline.py"], "params": ["prepare"],
                "outs": ["prepared/train.csv", "prepared/test.csv"]},
    "train": {"deps": ["prepared/train.csv", "src/pipeline.py"], "params": ["train"],
              "outs": ["models/model.joblib"]},
    "evaluate": {"deps": ["models/model.joblib", "prepared/test.csv", "src/pipeline.py"],
                 "params": [], "outs": ["metrics.json"]},
}

# %% [markdown]
# ## Part 1 — A content-addressed store (3 points)
# Write two functions over a cache folder laid out like DVC's:
# `<cache_dir>/files/md5/<first 2 hex digits>/<other 30 hex digits>`.
#
# * `store(path, cache_dir)` copies the file into the cache under the md5 of its content
#   and returns that md5 (32 lowercase hex digits). Read the file in chunks. Storing the
#   same content again (under any file name) must not copy it twice or change the stored
#   object.
# * `fetch(md5, cache_dir, dest)` copies the stored object to `dest` (creating its
#   folder) — **after** checking that the object's content still hashes to `md5`. If it
#   does not, raise `ValueError` with the md5 in the message and do not create `dest`.
#   A missing object raises `FileNotFoundError`.

# %% tags=["solution"] grade_id="content_store"
def object_path(cache_dir, md5) -> Path:
    """Where the content with hash ``md5`` lives in ``cache_dir``."""
    return Path(cache_dir) / "files" / "md5" / md5[:2] / md5[2:]


def store(path, cache_dir) -> str:
    """Copy ``path`` into the content-addressed cache; return its md5."""
    ### BEGIN SOLUTION
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    md5 = digest.hexdigest()
    target = object_path(cache_dir, md5)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        shutil.copyfile(path, tmp)
        os.replace(tmp, target)
    return md5
    ### END SOLUTION


def fetch(md5, cache_dir, dest) -> Path:
    """Copy the object ``md5`` to ``dest`` after verifying its content; return ``dest``."""
    ### BEGIN SOLUTION
    source = object_path(cache_dir, md5)
    digest = hashlib.md5()
    with open(source, "rb") as handle:  # FileNotFoundError if it is not stored
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != md5:
        raise ValueError(f"object {md5} is corrupted: its content hashes to "
                         f"{digest.hexdigest()}")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, dest)
    return dest
    ### END SOLUTION


# %% tags=["test"] grade_id="test_store_names_content_by_md5" points=1
def probe():
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "a.csv").write_bytes(b"x,y\n1,2\n")
        (tmp / "copy-of-a.csv").write_bytes(b"x,y\n1,2\n")
        (tmp / "b.csv").write_bytes(b"x,y\n1,3\n")
        md5_a = store(tmp / "a.csv", tmp / "cache")
        md5_again = store(tmp / "copy-of-a.csv", tmp / "cache")
        md5_b = store(tmp / "b.csv", tmp / "cache")
        # every file in the cache: its path there and (the start of) its content
        objects = {Path(folder, name).relative_to(tmp / "cache").as_posix():
                   Path(folder, name).read_bytes()[:1000].decode(errors="replace")
                   for folder, _, names in os.walk(tmp / "cache") for name in names}
    return {"md5_a": md5_a, "md5_again": md5_again, "md5_b": md5_b, "objects": objects}


def verify(observed):
    import hashlib

    md5_a = hashlib.md5(b"x,y\n1,2\n").hexdigest()
    md5_b = hashlib.md5(b"x,y\n1,3\n").hexdigest()
    assert observed["md5_a"] == md5_a, f"store must return the md5 of the content, {md5_a}"
    assert observed["md5_again"] == md5_a, "the same content gets the same md5"
    assert observed["md5_b"] == md5_b
    expected = sorted(f"files/md5/{m[:2]}/{m[2:]}" for m in (md5_a, md5_b))
    objects = sorted(observed["objects"])
    assert objects == expected, f"the cache should hold exactly {expected}, got {objects}"
    assert observed["objects"][objects[0]] in ("x,y\n1,2\n", "x,y\n1,3\n"), (
        "store the bytes as they are")


verify(probe())

# %% tags=["test"] grade_id="test_fetch_verifies" points=1
def probe():
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "data.csv").write_bytes(b"median_income\n8.3\n")
        md5 = store(tmp / "data.csv", tmp / "cache")
        back = fetch(md5, tmp / "cache", tmp / "restored" / "data.csv").read_bytes().decode()
        obj = object_path(tmp / "cache", md5)
        obj.chmod(0o644)
        obj.write_bytes(b"median_income\n9.3\n")  # bit rot: same size, other content
        corrupted = "no error"
        try:
            fetch(md5, tmp / "cache", tmp / "again" / "data.csv")
        except Exception as exc:
            corrupted = raised(exc)
        created = (tmp / "again" / "data.csv").exists()
    return {"md5": md5, "back": back, "corrupted": corrupted, "dest_created": created}


def verify(observed):
    assert observed["back"] == "median_income\n8.3\n", "fetch must return the stored bytes"
    corrupted = observed["corrupted"]
    names = corrupted.get("raised", []) if isinstance(corrupted, dict) else []
    got = f"{names[0]}: {corrupted['message']}" if names else corrupted
    assert "ValueError" in names and observed["md5"] in corrupted["message"], (
        f"a corrupted object must raise ValueError naming its md5, got: {got}")
    assert not observed["dest_created"], "a corrupted object must not be copied to dest"


verify(probe())

# %% tags=["test"] grade_id="hidden_store_large_file_md5" points=0.25
### BEGIN HIDDEN TESTS
def probe():
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        big = bytes(range(256)) * 12_000  # about 3 MB: several chunks
        (tmp / "big.bin").write_bytes(big)
        return store(tmp / "big.bin", tmp / "cache")


def verify(observed):
    import hashlib

    assert observed == hashlib.md5(bytes(range(256)) * 12_000).hexdigest()


verify(probe())
### END HIDDEN TESTS

# %% tags=["test"] grade_id="hidden_store_again_does_not_rewrite" points=0.25
### BEGIN HIDDEN TESTS
def probe():
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        big = bytes(range(256)) * 12_000  # about 3 MB: several chunks
        (tmp / "big.bin").write_bytes(big)
        md5 = store(tmp / "big.bin", tmp / "cache")
        obj = object_path(tmp / "cache", md5)
        mtime = obj.stat().st_mtime_ns
        store(tmp / "big.bin", tmp / "cache")
        return [mtime, obj.stat().st_mtime_ns]


def verify(observed):
    assert observed[1] == observed[0], "storing existing content again must not rewrite it"


verify(probe())
### END HIDDEN TESTS

# %% tags=["test"] grade_id="hidden_fetch_creates_folders" points=0.25
### BEGIN HIDDEN TESTS
def probe():
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        big = bytes(range(256)) * 12_000  # about 3 MB: several chunks
        (tmp / "big.bin").write_bytes(big)
        md5 = store(tmp / "big.bin", tmp / "cache")
        back = fetch(md5, tmp / "cache", tmp / "deep" / "er" / "big.bin").read_bytes()
        return {"size": len(back), "sha256": hashlib.sha256(back).hexdigest()}


def verify(observed):
    import hashlib

    big = bytes(range(256)) * 12_000
    assert observed == {"size": len(big), "sha256": hashlib.sha256(big).hexdigest()}, (
        "fetch must create the destination folders and copy the bytes")


verify(probe())
### END HIDDEN TESTS

# %% tags=["test"] grade_id="hidden_fetch_missing_object" points=0.25
### BEGIN HIDDEN TESTS
def probe():
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        big = bytes(range(256)) * 12_000  # about 3 MB: several chunks
        (tmp / "big.bin").write_bytes(big)
        store(tmp / "big.bin", tmp / "cache")
        try:
            fetch("0" * 32, tmp / "cache", tmp / "missing.bin")
        except Exception as exc:
            return raised(exc)
        return "no error"


def verify(observed):
    names = observed.get("raised", []) if isinstance(observed, dict) else []
    assert "FileNotFoundError" in names, "an unknown md5 is a FileNotFoundError"


verify(probe())
### END HIDDEN TESTS

# %% [markdown]
# ## Part 2 — The pipeline graph (4 points)
# A pipeline is a dict like `COURSE_PIPELINE`: stage name → `deps`, `params`, `outs`.
# A stage *depends on* another if one of its `deps` is one of the other's `outs`.
#
# * `stage_order(stages)` returns the stage names so that every stage comes after the
#   stages it depends on. When several stages could go next, take them in the order they
#   appear in `stages`. A cycle raises `ValueError` naming a stage in it.
# * `stages_to_rerun(stages, changed)` returns, in `stage_order`, the stages that must run
#   again after a change. `changed` lists changed file paths and changed parameter keys
#   such as `"train.max_iter"`. A stage reruns if one of its `deps` changed, if one of
#   its `params` changed (a listed section such as `"train"` covers every key below it,
#   `"train.max_iter"` too — but not `"trainer.x"`), or if it depends on a stage that
#   reruns.

# %% tags=["solution"] grade_id="pipeline_graph"
def stage_order(stages) -> list:
    """Stage names in an order that runs producers before consumers."""
    ### BEGIN SOLUTION
    producer = {out: name for name, stage in stages.items() for out in stage.get("outs", [])}
    upstream = {name: {producer[d] for d in stage.get("deps", []) if d in producer} - {name}
                for name, stage in stages.items()}
    for name, stage in stages.items():
        if any(producer.get(d) == name for d in stage.get("deps", [])):
            raise ValueError(f"stage {name!r} depends on its own output (a cycle)")
    order: list = []
    while len(order) < len(stages):
        ready = [n for n in stages if n not in order and upstream[n] <= set(order)]
        if not ready:
            stuck = [n for n in stages if n not in order]
            raise ValueError(f"the pipeline has a cycle through stage {stuck[0]!r}")
        order.append(ready[0])
    return order
    ### END SOLUTION


def stages_to_rerun(stages, changed) -> list:
    """The stages that must run again after ``changed`` files or parameters changed."""
    ### BEGIN SOLUTION
    changed = set(changed)

    def param_changed(section):
        return any(key == section or key.startswith(section + ".") for key in changed)

    rerun: list = []
    stale_files = set(changed)
    for name in stage_order(stages):
        stage = stages[name]
        if (any(dep in stale_files for dep in stage.get("deps", []))
                or any(param_changed(p) for p in stage.get("params", []))):
            rerun.append(name)
            stale_files.update(stage.get("outs", []))
    return rerun
    ### END SOLUTION


# %% tags=["test"] grade_id="test_stage_order_course_pipeline" points=1
def probe():
    backwards = dict(reversed(list(COURSE_PIPELINE.items())))
    return {"order": stage_order(backwards),
            "after_train_param": stages_to_rerun(COURSE_PIPELINE, ["train.learning_rate"]),
            "after_new_data": stages_to_rerun(COURSE_PIPELINE, ["data/housing.csv"]),
            "after_code": stages_to_rerun(COURSE_PIPELINE, ["src/pipeline.py"])}


def verify(observed):
    assert observed["order"] == ["prepare", "train", "evaluate"], (
        f"prepare must run before train, and train before evaluate: {observed['order']}")
    assert observed["after_train_param"] == ["train", "evaluate"], (
        f"a training parameter reruns train and evaluate only: {observed['after_train_param']}")
    assert observed["after_new_data"] == ["prepare", "train", "evaluate"]
    assert observed["after_code"] == ["prepare", "train", "evaluate"]


verify(probe())

# %% tags=["test"] grade_id="test_stage_order_cycle" points=1
def probe():
    cyclic = {"a": {"deps": ["y"], "outs": ["x"]}, "b": {"deps": ["x"], "outs": ["y"]}}
    try:
        stage_order(cyclic)
    except Exception as exc:
        return raised(exc)
    return "no error"


def verify(observed):
    names = observed.get("raised", []) if isinstance(observed, dict) else []
    assert "ValueError" in names, "a cycle a -> b -> a must raise ValueError"


verify(probe())

# %% tags=["test"] grade_id="hidden_stage_order_diamond" points=0.5
### BEGIN HIDDEN TESTS
def probe():
    diamond = {
        "report": {"deps": ["left.out", "right.out"], "outs": ["report.html"]},
        "left": {"deps": ["raw.csv"], "params": ["left"], "outs": ["left.out"]},
        "lonely": {"deps": ["other.csv"], "params": ["train"], "outs": ["lonely.out"]},
        "right": {"deps": ["raw.csv"], "params": ["right.depth"], "outs": ["right.out"]},
        "clean": {"deps": ["dirty.csv"], "outs": ["raw.csv"]},
    }
    return stage_order(diamond)


def verify(observed):
    assert observed == ["lonely", "clean", "left", "right", "report"], observed


verify(probe())
### END HIDDEN TESTS

# %% tags=["test"] grade_id="hidden_rerun_exact_param_key" points=0.5
### BEGIN HIDDEN TESTS
def probe():
    diamond = {
        "report": {"deps": ["left.out", "right.out"], "outs": ["report.html"]},
        "left": {"deps": ["raw.csv"], "params": ["left"], "outs": ["left.out"]},
        "lonely": {"deps": ["other.csv"], "params": ["train"], "outs": ["lonely.out"]},
        "right": {"deps": ["raw.csv"], "params": ["right.depth"], "outs": ["right.out"]},
        "clean": {"deps": ["dirty.csv"], "outs": ["raw.csv"]},
    }
    return {"right_depth": stages_to_rerun(diamond, ["right.depth"]),
            "right_other_key": stages_to_rerun(diamond, ["right.width"])}


def verify(observed):
    assert observed["right_depth"] == ["right", "report"]
    assert observed["right_other_key"] == [], "right lists only right.depth"


verify(probe())
### END HIDDEN TESTS

# %% tags=["test"] grade_id="hidden_rerun_param_section" points=0.5
### BEGIN HIDDEN TESTS
def probe():
    diamond = {
        "report": {"deps": ["left.out", "right.out"], "outs": ["report.html"]},
        "left": {"deps": ["raw.csv"], "params": ["left"], "outs": ["left.out"]},
        "lonely": {"deps": ["other.csv"], "params": ["train"], "outs": ["lonely.out"]},
        "right": {"deps": ["raw.csv"], "params": ["right.depth"], "outs": ["right.out"]},
        "clean": {"deps": ["dirty.csv"], "outs": ["raw.csv"]},
    }
    return {"left_key": stages_to_rerun(diamond, ["left.alpha"]),
            "prefix_trap": stages_to_rerun(diamond, ["trainer.max_iter"])}


def verify(observed):
    assert observed["left_key"] == ["left", "report"], "a section covers the keys below it"
    assert observed["prefix_trap"] == [], "'train' must not match 'trainer.max_iter'"


verify(probe())
### END HIDDEN TESTS

# %% tags=["test"] grade_id="hidden_rerun_changed_file" points=0.25
### BEGIN HIDDEN TESTS
def probe():
    diamond = {
        "report": {"deps": ["left.out", "right.out"], "outs": ["report.html"]},
        "left": {"deps": ["raw.csv"], "params": ["left"], "outs": ["left.out"]},
        "lonely": {"deps": ["other.csv"], "params": ["train"], "outs": ["lonely.out"]},
        "right": {"deps": ["raw.csv"], "params": ["right.depth"], "outs": ["right.out"]},
        "clean": {"deps": ["dirty.csv"], "outs": ["raw.csv"]},
    }
    return {"dirty": stages_to_rerun(diamond, ["dirty.csv"]),
            "unused": stages_to_rerun(diamond, ["README.md"])}


def verify(observed):
    assert observed["dirty"] == ["clean", "left", "right", "report"]
    assert observed["unused"] == []


verify(probe())
### END HIDDEN TESTS

# %% tags=["test"] grade_id="hidden_stage_order_self_loop" points=0.25
### BEGIN HIDDEN TESTS
def probe():
    try:
        stage_order({"self": {"deps": ["x"], "outs": ["x"]}})
    except Exception as exc:
        return raised(exc)
    return "no error"


def verify(observed):
    names = observed.get("raised", []) if isinstance(observed, dict) else []
    assert "ValueError" in names, "a stage reading its own output is a cycle"


verify(probe())
### END HIDDEN TESTS

# %% [markdown]
# ## Part 3 — A parameters diff (3 points)
# `dvc params diff` compares two versions of `params.yaml`. Write `params_diff(old, new)`
# for two nested dicts: flatten both into dotted keys (`{"train": {"max_iter": 200}}` →
# `"train.max_iter"`), and return a dict with one entry per key whose value differs:
# `{"old": <value or None>, "new": <value or None>}` (`None` where the key is missing).
# Keys with equal values are left out; a list is a value like any other.

# %% tags=["solution"] grade_id="params_diff"
def params_diff(old, new) -> dict:
    """Changed, added and removed parameters, by dotted key."""
    ### BEGIN SOLUTION
    def flatten(tree, prefix=""):
        flat = {}
        for key, value in tree.items():
            name = f"{prefix}{key}"
            if isinstance(value, dict) and value:
                flat.update(flatten(value, name + "."))
            else:
                flat[name] = value
        return flat

    before, after = flatten(old), flatten(new)
    return {key: {"old": before.get(key), "new": after.get(key)}
            for key in sorted(before.keys() | after.keys())
            if key not in before or key not in after or before[key] != after[key]}
    ### END SOLUTION


# %% tags=["test"] grade_id="test_params_diff_changed" points=1
def probe():
    old = {"prepare": {"test_size": 0.2, "seed": 42}, "train": {"max_iter": 200, "seed": 42}}
    new = {"prepare": {"test_size": 0.2, "seed": 42}, "train": {"max_iter": 400, "seed": 42}}
    return {"changed": params_diff(old, new), "same": params_diff(old, old)}


def verify(observed):
    assert observed["changed"] == {"train.max_iter": {"old": 200, "new": 400}}, observed["changed"]
    assert observed["same"] == {}, "equal parameters give an empty diff"


verify(probe())

# %% tags=["test"] grade_id="test_params_diff_added_removed" points=1
def probe():
    old = {"train": {"learning_rate": 0.1, "l2": 0.0}}
    new = {"train": {"learning_rate": 0.1, "max_leaf_nodes": 63}}
    return params_diff(old, new)


def verify(observed):
    assert observed == {"train.l2": {"old": 0.0, "new": None},
                        "train.max_leaf_nodes": {"old": None, "new": 63}}, observed


verify(probe())

# %% tags=["test"] grade_id="hidden_params_diff_deep_key" points=0.25
### BEGIN HIDDEN TESTS
def probe():
    old = {"model": {"hgb": {"depth": 3, "bins": [1, 2]}, "name": "hgb"}, "seed": 1}
    new = {"model": {"hgb": {"depth": 5, "bins": [1, 2, 3]}, "name": "hgb"}, "seed": 1,
           "extra": {"flag": True}}
    return params_diff(old, new)


def verify(observed):
    expected = {
        "extra.flag": {"old": None, "new": True},
        "model.hgb.bins": {"old": [1, 2], "new": [1, 2, 3]},
        "model.hgb.depth": {"old": 3, "new": 5},
    }
    assert observed.get("model.hgb.depth") == expected["model.hgb.depth"], (
        f"flatten nested sections into dotted keys: expected {expected}, got {observed}")


verify(probe())
### END HIDDEN TESTS

# %% tags=["test"] grade_id="hidden_params_diff_list_value" points=0.25
### BEGIN HIDDEN TESTS
def probe():
    old = {"model": {"hgb": {"depth": 3, "bins": [1, 2]}, "name": "hgb"}, "seed": 1}
    new = {"model": {"hgb": {"depth": 5, "bins": [1, 2, 3]}, "name": "hgb"}, "seed": 1,
           "extra": {"flag": True}}
    return params_diff(old, new)


def verify(observed):
    expected = {
        "extra.flag": {"old": None, "new": True},
        "model.hgb.bins": {"old": [1, 2], "new": [1, 2, 3]},
        "model.hgb.depth": {"old": 3, "new": 5},
    }
    assert observed.get("model.hgb.bins") == expected["model.hgb.bins"], (
        f"a list is a value like any other: expected {expected}, got {observed}")


verify(probe())
### END HIDDEN TESTS

# %% tags=["test"] grade_id="hidden_params_diff_added_section" points=0.25
### BEGIN HIDDEN TESTS
def probe():
    old = {"model": {"hgb": {"depth": 3, "bins": [1, 2]}, "name": "hgb"}, "seed": 1}
    new = {"model": {"hgb": {"depth": 5, "bins": [1, 2, 3]}, "name": "hgb"}, "seed": 1,
           "extra": {"flag": True}}
    return params_diff(old, new)


def verify(observed):
    expected = {
        "extra.flag": {"old": None, "new": True},
        "model.hgb.bins": {"old": [1, 2], "new": [1, 2, 3]},
        "model.hgb.depth": {"old": 3, "new": 5},
    }
    assert observed.get("extra.flag") == expected["extra.flag"], (
        f"a new section adds its keys (old: None): expected {expected}, got {observed}")


verify(probe())
### END HIDDEN TESTS

# %% tags=["test"] grade_id="hidden_params_diff_only_changes" points=0.25
### BEGIN HIDDEN TESTS
def probe():
    old = {"model": {"hgb": {"depth": 3, "bins": [1, 2]}, "name": "hgb"}, "seed": 1}
    new = {"model": {"hgb": {"depth": 5, "bins": [1, 2, 3]}, "name": "hgb"}, "seed": 1,
           "extra": {"flag": True}}
    return params_diff(old, new)


def verify(observed):
    expected = {
        "extra.flag": {"old": None, "new": True},
        "model.hgb.bins": {"old": [1, 2], "new": [1, 2, 3]},
        "model.hgb.depth": {"old": 3, "new": 5},
    }
    assert sorted(observed) == sorted(expected), (
        f"one entry per changed key, no others: expected {expected}, got {observed}")


verify(probe())
### END HIDDEN TESTS

# %% [markdown]
# ## Reflect
# DVC is these three ideas plus plumbing: `dvc add` is `store` plus a pointer file that Git
# versions, `dvc pull` with `verify = true` is `fetch`, `dvc repro` is `stages_to_rerun`
# with hashes deciding what "changed" means, and `dvc params diff` is `params_diff` between
# two Git revisions. Lesson 5 (MLflow) records the runs themselves: every metric, every
# artefact, and which model version serves.
