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
# # Exercise 3 — Comparing environments, reviewing a Dockerfile
#
# Lesson 3 found *why* the same code broke on another machine by comparing two
# environments, and built the service's image from a reviewed `Dockerfile`. Here you write
# the two tools behind that: a **comparison of two `pip freeze` listings** (what a
# colleague pastes into an issue) and a small **Dockerfile reviewer** that finds the
# mistakes the course's `Dockerfile` avoids. Plain Python, no engine needed. Each part has
# public tests you can run here; graders also run hidden tests.

# %%
import re

from mlops_course.course.observe import raised

MY_LAPTOP = """\
# pip freeze, on the laptop where it works
numpy==2.4.6
onnx==1.23.2
protobuf==6.33.6
scikit-learn==1.9.1
skl2onnx==1.19.1
-e git+https://example.org/house-prices.git@4f2c1e9#egg=mlops_course
"""
CI_MACHINE = """\
numpy==2.4.6
onnx==1.23.2
protobuf==7.36.2
Scikit_Learn==1.9.1
skl2onnx==1.19.1
typing_extensions==4.16.0
"""

# %% [markdown]
# ## Part 1 — Compare two environments (3 points)
# * `parse_freeze(text)` reads `pip freeze` output into `{name: version}`. Names are
#   compared the way pip compares them: lowercase, with runs of `_`, `.` and `-` turned
#   into one `-` (`Scikit_Learn` is `scikit-learn`). Skip blank lines, comments (`#`) and
#   editable or URL installs (lines starting with `-e`, or containing ` @ `). A line that
#   is none of these and has no `==` raises `ValueError` naming the line.
# * `diff_freeze(old_text, new_text)` returns
#   `{"added": {...}, "removed": {...}, "changed": {...}}`: names only in the new listing
#   with their version, names only in the old one with their version, and names in both
#   with different versions as `[old, new]`. Nothing else.

# %% tags=["solution"] grade_id="freeze_diff"
def parse_freeze(text) -> dict:
    """``pip freeze`` text -> {normalised name: version}."""
    ### BEGIN SOLUTION
    pins = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", "-e")) or " @ " in line:
            continue
        if "==" not in line:
            raise ValueError(f"not a 'name==version' line: {line!r}")
        name, version = line.split("==", 1)
        pins[re.sub(r"[-_.]+", "-", name.strip()).lower()] = version.strip()
    return pins
    ### END SOLUTION


def diff_freeze(old_text, new_text) -> dict:
    """What was added, removed and changed between two ``pip freeze`` listings."""
    ### BEGIN SOLUTION
    old, new = parse_freeze(old_text), parse_freeze(new_text)
    return {
        "added": {n: new[n] for n in sorted(set(new) - set(old))},
        "removed": {n: old[n] for n in sorted(set(old) - set(new))},
        "changed": {n: [old[n], new[n]] for n in sorted(set(old) & set(new))
                    if old[n] != new[n]},
    }
    ### END SOLUTION


# %% tags=["test"] grade_id="test_parse_freeze" points=1
def probe():
    return parse_freeze(MY_LAPTOP), parse_freeze(CI_MACHINE)


def verify(observed):
    laptop, ci = observed
    assert laptop == {"numpy": "2.4.6", "onnx": "1.23.2", "protobuf": "6.33.6",
                      "scikit-learn": "1.9.1", "skl2onnx": "1.19.1"}, (
        f"Part 1: comments and the -e line are skipped; got {laptop}")
    assert ci["scikit-learn"] == "1.9.1" and "Scikit_Learn" not in ci, (
        "Part 1: names are normalised (Scikit_Learn -> scikit-learn)")
    assert ci["typing-extensions"] == "4.16.0"


verify(probe())
print("✓ Part 1: parse_freeze passes the public tests")

# %% tags=["test"] grade_id="test_diff_freeze" points=1
def probe():
    return diff_freeze(MY_LAPTOP, CI_MACHINE)


def verify(observed):
    assert observed == {"added": {"typing-extensions": "4.16.0"}, "removed": {},
                        "changed": {"protobuf": ["6.33.6", "7.36.2"]}}, (
        f"Part 1: one package added, protobuf changed, nothing else; got {observed}")


verify(probe())
print("✓ Part 1: diff_freeze finds the culprit")

# %% tags=["test"] grade_id="hidden_parse_freeze_bad_line" points=0.25
### BEGIN HIDDEN TESTS
def probe():
    try:
        parse_freeze("numpy==2.4.6\npandas>=2.2\n")
    except Exception as exc:
        return raised(exc)
    return "no error"


def verify(observed):
    names = observed.get("raised", []) if isinstance(observed, dict) else []
    assert "ValueError" in names, "a range is not a pin: ValueError"
    assert "pandas" in observed["message"], "the message names the line"


verify(probe())
### END HIDDEN TESTS

# %% tags=["test"] grade_id="hidden_parse_freeze_urls_and_dots" points=0.25
### BEGIN HIDDEN TESTS
def probe():
    return parse_freeze("zope.interface==7.0\nmy-pkg @ file:///tmp/my_pkg.whl\n"
                        "  Jinja2==3.1.6  \n\nruamel.yaml.clib==0.2.12\n")


def verify(observed):
    assert observed == {"zope-interface": "7.0", "jinja2": "3.1.6",
                        "ruamel-yaml-clib": "0.2.12"}, observed


verify(probe())
### END HIDDEN TESTS

# %% tags=["test"] grade_id="hidden_diff_freeze_removed_and_same" points=0.5
### BEGIN HIDDEN TESTS
def probe():
    return {"removed": diff_freeze("a==1\nb==2\nc==3\n", "A==1\nc==4\n"),
            "same": diff_freeze("x==1\n", "X==1\n")}


def verify(observed):
    assert observed["removed"] == {"added": {}, "removed": {"b": "2"},
                                   "changed": {"c": ["3", "4"]}}, observed["removed"]
    assert observed["same"] == {"added": {}, "removed": {}, "changed": {}}, observed["same"]


verify(probe())
### END HIDDEN TESTS

# %% [markdown]
# ## Part 2 — Review a Dockerfile (4 points)
# Write `review_dockerfile(text)` that returns the **sorted list** of problems found, each
# named by one of these ids (each id at most once):
#
# | id | the problem |
# | --- | --- |
# | `root-user` | the **last** stage has no `USER` instruction, or its last `USER` is `root` or `0` |
# | `no-healthcheck` | there is no `HEALTHCHECK` instruction |
# | `unpinned-base` | a `FROM` names an image without a tag or with the tag `latest` — except a `FROM` that names an earlier stage (`AS name`) or a `${VAR}` whose `ARG VAR=default` has a tag that is not `latest` (resolve it) |
# | `secret-in-image` | an `ENV` or `ARG` sets a name containing `PASSWORD`, `SECRET`, `TOKEN` or `API_KEY` (any case) to a non-empty value |
# | `model-before-deps` | within one stage, a `COPY` of a model file (a source ending in `.onnx`, `.joblib` or `.pkl`, or with `model` in its path) comes before a `RUN` that runs `pip install` (the cache then reinstalls every dependency when the model changes) |
#
# Instructions are case-insensitive; lines ending in `\` continue on the next line;
# comment lines start with `#`. `FROM image AS name` starts a stage called `name`.

# %% tags=["solution"] grade_id="review"
def review_dockerfile(text) -> list:
    """The problem ids found in a Dockerfile, sorted."""
    ### BEGIN SOLUTION
    lines, current = [], ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append((current + stripped).strip())
        current = ""
    if current.strip():
        lines.append(current.strip())
    args, stages, problems = {}, [], set()
    stage_users, saw_health = [], False
    model_copied = False
    for line in lines:
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "ARG":
            name, _, value = rest.partition("=")
            args[name.strip()] = value.strip().strip('"')
            if value.strip() and re.search(r"PASSWORD|SECRET|TOKEN|API_KEY", name, re.I):
                problems.add("secret-in-image")
        elif keyword == "ENV":
            pairs = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)(?:=|\s+)(\"[^\"]*\"|\S+)", rest)
            for name, value in pairs:
                if value.strip('"') and re.search(r"PASSWORD|SECRET|TOKEN|API_KEY", name, re.I):
                    problems.add("secret-in-image")
        elif keyword == "FROM":
            words = [w for w in rest.split() if not w.startswith("--")]
            image = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), ""), words[0])
            if words[0] not in stages:
                last = image.rsplit("/", 1)[-1]
                tag = last.split(":", 1)[1] if ":" in last else ""
                if "@" not in image and tag in ("", "latest"):
                    problems.add("unpinned-base")
            if len(words) >= 3 and words[1].upper() == "AS":
                stages.append(words[2])
            stage_users.append(None)
            model_copied = False
        elif keyword == "USER":
            stage_users[-1] = rest.split(":")[0]
        elif keyword == "HEALTHCHECK":
            saw_health = True
        elif keyword == "COPY":
            sources = [w for w in rest.split() if not w.startswith("--")][:-1]
            if any(s.endswith((".onnx", ".joblib", ".pkl")) or "model" in s.lower()
                   for s in sources):
                model_copied = True
        elif keyword == "RUN" and "pip install" in rest and model_copied:
            problems.add("model-before-deps")
    if not stage_users or stage_users[-1] in (None, "root", "0"):
        problems.add("root-user")
    if not saw_health:
        problems.add("no-healthcheck")
    return sorted(problems)
    ### END SOLUTION


# %% tags=["test"] grade_id="test_review_course_dockerfile" points=1
def probe():
    return review_dockerfile("""\
# the course's Dockerfile, shortened
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS builder
COPY wheels/ /wheels/
RUN python3 -m venv /opt/venv \\
    && /opt/venv/bin/pip install --no-index --find-links /wheels -r /wheels/requirements.txt

FROM ${BASE_IMAGE} AS runtime
COPY --from=builder /opt/venv /opt/venv
COPY bundle/ /models/current/
ENV PATH=/opt/venv/bin:$PATH OMP_NUM_THREADS=1
USER 10001:10001
HEALTHCHECK --interval=10s CMD ["python", "-c", "print('ok')"]
ENTRYPOINT ["python", "-m", "mlops_course.service.server"]
""")


def verify(observed):
    assert observed == [], f"Part 2: the course's Dockerfile has none of the problems: {observed}"


verify(probe())
print("✓ Part 2: the course's Dockerfile passes the review")

# %% tags=["test"] grade_id="test_review_bad_dockerfile" points=1
def probe():
    return review_dockerfile("""\
FROM python
ENV DB_PASSWORD=hunter2
COPY model.joblib /app/
RUN pip install --no-cache-dir scikit-learn==1.9.1
CMD ["python", "serve.py"]
""")


def verify(observed):
    expected = ["model-before-deps", "no-healthcheck", "root-user", "secret-in-image",
                "unpinned-base"]
    assert observed == expected, f"Part 2: every problem, sorted: expected {expected}, got {observed}"


verify(probe())
print("✓ Part 2: review_dockerfile finds all five problems")

# %% tags=["test"] grade_id="hidden_review_stages_and_args" points=0.5
### BEGIN HIDDEN TESTS
def probe():
    return review_dockerfile("""\
# comment: FROM nothing:latest
ARG BASE=python:3.11-slim-bookworm
FROM ${BASE} AS build
RUN pip install --no-cache-dir numpy==2.4.6
FROM build
COPY --chown=1000 models/ /models/
USER 1000
HEALTHCHECK CMD ["true"]
""")


def verify(observed):
    assert observed == [], f"a pinned ARG base and a stage name are fine: {observed}"


verify(probe())
### END HIDDEN TESTS

# %% tags=["test"] grade_id="hidden_review_last_stage_user" points=0.5
### BEGIN HIDDEN TESTS
def probe():
    return {"first_only": review_dockerfile(
        "FROM debian:bookworm AS a\nUSER app\nFROM debian:bookworm\nHEALTHCHECK NONE\n"),
        "back_to_root": review_dockerfile(
            "from debian:12\nuser app\nuser root\nhealthcheck cmd true\n"),
        "latest": review_dockerfile(
            "FROM registry.example.org:5000/team/python:latest\nUSER 1\nHEALTHCHECK CMD x\n")}


def verify(observed):
    assert observed["first_only"] == ["root-user"], observed["first_only"]
    assert observed["back_to_root"] == ["root-user"], observed["back_to_root"]
    assert observed["latest"] == ["unpinned-base"], (
        "a registry port is not a tag: " + str(observed["latest"]))


verify(probe())
### END HIDDEN TESTS

# %% tags=["test"] grade_id="hidden_review_continuations_and_empty_secret" points=0.5
### BEGIN HIDDEN TESTS
def probe():
    return review_dockerfile("""\
FROM python:3.11-slim
ARG API_KEY
ENV PATH=/opt/venv/bin:$PATH \\
    SERVICE_TOKEN=abc123
RUN pip install \\
    --no-cache-dir fastapi==0.165.0
COPY app/ /app/
USER 10001
HEALTHCHECK CMD ["true"]
""")


def verify(observed):
    assert observed == ["secret-in-image"], (
        f"an ARG without a value is fine; a token set on a continued ENV line is not: {observed}")


verify(probe())
### END HIDDEN TESTS

# %% [markdown]
# ## Reflect
# `diff_freeze` is the first thing to run when "it works on my machine": it named
# `protobuf` in lesson 3 at once. `hadolint` is a much larger `review_dockerfile` (it also
# parses the shell inside `RUN`); a linter in CI catches these before an image is pushed.
# Lesson 4 puts the data and the model that the image bakes in under version control.
