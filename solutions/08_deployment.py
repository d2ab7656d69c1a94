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
# # Exercise 8 — A prediction API that refuses bad input, and a canary's decision
#
# Lesson 1's Flask app answered a malformed request with an HTML 500. Lesson 8's service
# answers every bad request with a 4xx that names the field. Build a small version of it
# with FastAPI and pydantic, then write the rule that decides a canary release. The tests
# call your app in-process with FastAPI's `TestClient` (no server, no port). Each part has
# public tests you can run here; graders also run hidden tests.

# %%
import math
from typing import Literal

from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict, Field

from mlops_course.course.observe import raised

CATEGORIES = ("<1H OCEAN", "INLAND", "ISLAND", "NEAR BAY", "NEAR OCEAN")
GOOD = {"median_income": 8.3, "households": 126.0, "ocean_proximity": "NEAR BAY"}


def toy_model(rows):
    """A stand-in for the real model: a price per district, in dollars."""
    return [40_000 * r["median_income"] + (60_000 if r["ocean_proximity"] != "INLAND" else 0)
            for r in rows]


# %% [markdown]
# ## Part 1 — A typed request (3 points)
# Write `district_model(categories)`: it returns a pydantic model class (a subclass of
# `BaseModel`, define it inside the function) for one district, with three fields:
#
# * `median_income`: a finite number between 0.5 and 15 (both included; in $10,000s);
# * `households`: a finite number of at least 1;
# * `ocean_proximity`: one of `categories` (a tuple of strings; `Literal[categories]`).
#
# Numbers must be real JSON numbers: refuse text such as `"8.3"` and booleans (pydantic's
# `strict`), `NaN` and infinities (`allow_inf_nan`). Refuse any other field
# (`extra="forbid"`). Creating an invalid district raises pydantic's `ValidationError`:
# `District = district_model(CATEGORIES)`, then `District(**payload)`.

# %% tags=["solution"] grade_id="district"
def district_model(categories) -> type[BaseModel]:
    """The request model of one district, for these categories."""
    ### BEGIN SOLUTION
    class District(BaseModel):
        model_config = ConfigDict(extra="forbid")

        median_income: float = Field(ge=0.5, le=15, strict=True, allow_inf_nan=False)
        households: float = Field(ge=1, strict=True, allow_inf_nan=False)
        ocean_proximity: Literal[tuple(categories)]

    return District
    ### END SOLUTION


# %% tags=["test"] grade_id="test_district_accepts_good" points=1
def probe():
    try:
        return district_model(CATEGORIES)(**GOOD).model_dump()
    except Exception as exc:
        return raised(exc)


def verify(observed):
    good = {"median_income": 8.3, "households": 126.0, "ocean_proximity": "NEAR BAY"}
    assert "raised" not in observed, f"a good district must pass, got {observed}"
    assert observed == good, f"keep the values: expected {good}, got {observed}"


verify(probe())

# %% tags=["test"] grade_id="test_district_refuses_bad" points=1
def probe():
    cases = {"text": {**GOOD, "median_income": "high"},
             "range": {**GOOD, "median_income": 40.0},
             "category": {**GOOD, "ocean_proximity": "MOON"},
             "extra": {**GOOD, "price": 1.0}}
    out = {}
    for name, payload in cases.items():
        try:
            out[name] = district_model(CATEGORIES)(**payload).model_dump()
        except Exception as exc:
            out[name] = raised(exc)
    return out


def verify(observed):
    for name, result in observed.items():
        assert "raised" in result, f"{name}: this district must be refused, it passed: {result}"
        assert "ValidationError" in result["raised"], (
            f"{name}: raise pydantic's ValidationError, got {result['raised'][0]}")


verify(probe())

# %% tags=["test"] grade_id="hidden_district_strict_numbers" points=0.5
### BEGIN HIDDEN TESTS
def probe():
    out = {}
    for name, value in {"numeric text": "8.3", "boolean": True, "nan": math.nan,
                        "inf": math.inf}.items():
        try:
            out[name] = district_model(CATEGORIES)(**{**GOOD, "median_income": value}).model_dump()
        except Exception as exc:
            out[name] = raised(exc)
    return out


def verify(observed):
    for name, result in observed.items():
        assert "raised" in result, f"median_income = {name} must be refused (strict, finite)"
        assert "ValidationError" in result["raised"], (
            f"median_income = {name}: raise pydantic's ValidationError, got {result['raised'][0]}")


verify(probe())
### END HIDDEN TESTS

# %% tags=["test"] grade_id="hidden_district_bounds" points=0.5
### BEGIN HIDDEN TESTS
def probe():
    out = {}
    for name, payload in {"income 0.5": {**GOOD, "median_income": 0.5},
                          "income 15": {**GOOD, "median_income": 15.0},
                          "households 1": {**GOOD, "households": 1.0},
                          "households 0.5": {**GOOD, "households": 0.5},
                          "income 0.49": {**GOOD, "median_income": 0.49},
                          "integer households": {**GOOD, "households": 3}}.items():
        try:
            out[name] = district_model(CATEGORIES)(**payload).model_dump()
        except Exception as exc:
            out[name] = raised(exc)
    return out


def verify(observed):
    for name in ("income 0.5", "income 15", "households 1", "integer households"):
        assert "raised" not in observed[name], f"{name} is allowed (bounds included; 3 is a number)"
    for name in ("households 0.5", "income 0.49"):
        assert "ValidationError" in observed[name].get("raised", []), (
            f"{name} is out of range and must be refused with a ValidationError")


verify(probe())
### END HIDDEN TESTS

# %% [markdown]
# ## Part 2 — The API (3 points)
# Write `make_app(model)`: a FastAPI app with
#
# * `POST /predict` taking one district (your `district_model(CATEGORIES)`) as its JSON
#   body and answering
#   `{"median_house_value": <float>}`, the price `model([district as a dict])[0]`;
# * `GET /health` answering `{"status": "ok"}`.
#
# FastAPI answers a body that breaks the schema with status 422 and a `detail` list whose
# items carry the field's location (`loc`) — nothing to write for that, but check it.

# %% tags=["solution"] grade_id="make_app"
def make_app(model) -> FastAPI:
    """A prediction API around ``model`` (a function: list of dicts -> list of prices)."""
    ### BEGIN SOLUTION
    District = district_model(CATEGORIES)
    app = FastAPI()

    @app.post("/predict")
    def predict(district: District) -> dict:
        return {"median_house_value": float(model([district.model_dump()])[0])}

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}

    return app
    ### END SOLUTION


# %% tags=["test"] grade_id="test_app_predicts" points=1
def probe():
    client = TestClient(make_app(toy_model))
    reply = client.post("/predict", json=GOOD)
    return {"status": reply.status_code, "body": reply.json(),
            "health": client.get("/health").json()}


def verify(observed):
    assert observed["status"] == 200, f"a good district gets 200, got {observed['status']}"
    expected = 40_000 * 8.3 + 60_000
    price = observed["body"].get("median_house_value")
    assert price is not None and abs(price - expected) < 1e-6, (
        f"expected {{'median_house_value': {expected}}}, got {observed['body']}")
    assert observed["health"] == {"status": "ok"}, "GET /health answers {'status': 'ok'}"


verify(probe())

# %% tags=["test"] grade_id="test_app_refuses_with_field" points=1
def probe():
    client = TestClient(make_app(toy_model))
    reply = client.post("/predict", json={**GOOD, "median_income": "high"})
    after = client.post("/predict", json=GOOD)
    return {"status": reply.status_code, "body": reply.json(), "after": after.status_code}


def verify(observed):
    assert observed["status"] == 422, f"a bad district gets 422, got {observed['status']}"
    locations = [item.get("loc", []) for item in observed["body"].get("detail", [])]
    assert any("median_income" in loc for loc in locations), (
        f"the 422 must name the field median_income, got {observed['body']}")
    assert observed["after"] == 200, "the app keeps serving after a bad request"


verify(probe())

# %% tags=["test"] grade_id="hidden_app_malformed_json" points=1
### BEGIN HIDDEN TESTS
def probe():
    client = TestClient(make_app(toy_model))
    bad = client.post("/predict", content='{"median_income": ',
                      headers={"content-type": "application/json"})
    inland = client.post("/predict", json={**GOOD, "ocean_proximity": "INLAND"})
    return {"bad": bad.status_code, "inland": inland.json()}


def verify(observed):
    assert observed["bad"] == 422, f"malformed JSON gets 422, not {observed['bad']}"
    assert abs(observed["inland"].get("median_house_value", 0) - 40_000 * 8.3) < 1e-6, (
        "pass the district to the model as a dict with its fields")


verify(probe())
### END HIDDEN TESTS

# %% [markdown]
# ## Part 3 — The canary's decision (2 points)
# During a canary release, the absolute errors (dollars) of the stable version and of
# the canary arrive as labels come in. Write
# `canary_decision(stable_errors, canary_errors, min_samples=30, tolerance=1.25)`:
#
# * `"wait"` while the canary has fewer than `min_samples` errors (or the stable none);
# * `"rollback"` when the canary's mean error exceeds `tolerance` times the stable's;
# * `"continue"` otherwise.

# %% tags=["solution"] grade_id="canary_decision"
def canary_decision(stable_errors, canary_errors, min_samples=30, tolerance=1.25) -> str:
    """Decide a canary release from the two versions' absolute errors."""
    ### BEGIN SOLUTION
    stable, canary = list(stable_errors), list(canary_errors)
    if len(canary) < min_samples or not stable:
        return "wait"
    if sum(canary) / len(canary) > tolerance * sum(stable) / len(stable):
        return "rollback"
    return "continue"
    ### END SOLUTION


# %% tags=["test"] grade_id="test_canary_decision" points=1
def probe():
    stable = [30_000.0] * 100
    return {"few": canary_decision(stable, [90_000.0] * 10),
            "worse": canary_decision(stable, [40_000.0] * 40),
            "fine": canary_decision(stable, [31_000.0] * 40)}


def verify(observed):
    assert observed["few"] == "wait", "10 canary errors are fewer than min_samples=30: wait"
    assert observed["worse"] == "rollback", "40k vs 30k is more than 1.25x: rollback"
    assert observed["fine"] == "continue", "31k vs 30k is within 1.25x: continue"


verify(probe())

# %% tags=["test"] grade_id="hidden_canary_decision_edges" points=1
### BEGIN HIDDEN TESTS
def probe():
    return {"exact": canary_decision([10.0, 30.0], [25.0] * 30),
            "custom": canary_decision([10.0], [12.0] * 5, min_samples=5, tolerance=1.1),
            "no stable": canary_decision([], [1.0] * 50),
            "generator": canary_decision((e for e in [10.0] * 3), (e for e in [50.0] * 30))}


def verify(observed):
    assert observed["exact"] == "continue", "exactly 1.25x is not more than 1.25x"
    assert observed["custom"] == "rollback", "use min_samples and tolerance as given"
    assert observed["no stable"] == "wait", "without stable errors there is nothing to compare"
    assert observed["generator"] == "rollback", "accept any iterable of errors"


verify(probe())
### END HIDDEN TESTS
