"""The typed request schema of the prediction service, built from a bundle.

One district is a JSON object with the nine raw fields of ``housing.csv`` (the target
left out). Every number is a finite JSON number (``"3.5"``, ``true``, ``NaN`` and
``Infinity`` are refused) inside its declared range; only ``total_bedrooms`` may be
``null`` (the census left 207 blank; the model imputes it as in training); a district
cannot have more bedrooms than rooms; ``ocean_proximity`` is one of the model's
categories; any other field is an error. The ranges and categories travel in the
bundle, so the schema always matches the model it guards.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

MAX_BATCH_ROWS = 1_000
MAX_BODY_BYTES = 512 * 1024


def _bedrooms_le_rooms(self: Any) -> Any:
    bedrooms, rooms = self.total_bedrooms, self.total_rooms
    if bedrooms is not None and bedrooms > rooms:
        raise ValueError(f"total_bedrooms ({bedrooms:g}) cannot exceed total_rooms "
                         f"({rooms:g}): a bedroom is a room")
    return self


def district_model(schema: dict[str, Any]) -> type[BaseModel]:
    """The pydantic model of one district for a bundle's ``schema`` section."""
    fields: dict[str, Any] = {}
    for name, spec in schema["numeric"].items():
        kind: Any = float | None if spec["nullable"] else float
        fields[name] = (kind, Field(..., ge=spec["min"], le=spec["max"], strict=True,
                                    allow_inf_nan=False, description=spec["why"]))
    categories = tuple(schema["categories"])
    fields["ocean_proximity"] = (Literal[categories],  # type: ignore[valid-type]
                                 Field(..., description="distance to the ocean, in words"))
    example = {"longitude": -122.23, "latitude": 37.88, "housing_median_age": 41.0,
               "total_rooms": 880.0, "total_bedrooms": 129.0, "population": 322.0,
               "households": 126.0, "median_income": 8.3252, "ocean_proximity": "NEAR BAY"}
    return create_model(
        "District",
        __config__=ConfigDict(extra="forbid", json_schema_extra={"examples": [example]}),
        __validators__={"bedrooms_le_rooms": model_validator(mode="after")(_bedrooms_le_rooms)},
        **fields,
    )


class Prediction(BaseModel):
    """The answer for one district."""

    median_house_value: float = Field(description="predicted median house value, in dollars")
    model_version: str
    request_id: int = Field(description="quote it when the true value arrives (lesson 9)")


class Problem(BaseModel):
    """One thing wrong with a request: where, what, and the value received."""

    field: str
    problem: str
    received: Any = None


class ErrorBody(BaseModel):
    """Every 4xx answer: a one-line message and the problems, field by field."""

    error: str
    message: str
    problems: list[Problem] = []


def field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    """A validation error's location as a field path: ``median_income``, ``[3].households``.

    Examples
    --------
    >>> field_name(("body", 3, "households"))
    '[3].households'
    >>> field_name(("body",))
    'body'
    """
    parts = [p for p in loc if p != "body"] or ["body"]
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def safe_value(value: Any, limit: int = 80) -> Any:
    """A received value that JSON can carry: NaN/inf and odd objects become short text."""
    if value is None or isinstance(value, bool | int | str):
        return value if not isinstance(value, str) else value[:limit]
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else repr(value)
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"
