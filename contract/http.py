"""The HTTP shapes of `POST /predict` and `GET /jobs/{id}` (also the data of its events)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from operator import attrgetter
from typing import Annotated, Any

import msgspec
import orjson
from pydantic import BaseModel, ConfigDict, Field, computed_field

from contract.jobs import JobField, JobStatus, merge_items

# An item's measurements, in the order the model and the cache keys take them.
FEATURES: tuple[str, ...] = ("sepal_length", "sepal_width", "petal_length", "petal_width")

# A measurement is a finite number of centimetres in (LOWEST, HIGHEST].
LOWEST, HIGHEST = 0, 100

Measurement = Annotated[
    float,
    Field(
        strict=True,
        gt=LOWEST,
        le=HIGHEST,
        allow_inf_nan=False,
        description=f"centimetres, ({LOWEST:g}, {HIGHEST:g}]",
    ),
]


class PredictionItem(BaseModel):
    """One flower's four measurements in cm."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sepal_length: Measurement
    sepal_width: Measurement
    petal_length: Measurement
    petal_width: Measurement


# An item's four values in FEATURES order: one C call an item (a method call costs twice as
# much, which a 1,000-item request feels).
measurements: Callable[[PredictionItem], tuple[float, float, float, float]] = attrgetter(*FEATURES)


class PredictionRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "sepal_length": 5.1,
                            "sepal_width": 3.5,
                            "petal_length": 1.4,
                            "petal_width": 0.2,
                        }
                    ]
                }
            ]
        },
    )

    items: list[PredictionItem] = Field(min_length=1)


# PredictionRequest again, as msgspec structs: the same fields, bounds and refusals, for
# `request_rows`. Generated from FEATURES, so the two spell one shape.
_FastItem: Any = msgspec.defstruct(
    "_FastItem",
    [(name, Annotated[float, msgspec.Meta(gt=LOWEST, le=HIGHEST)]) for name in FEATURES],
    forbid_unknown_fields=True,
)
_FastRequest: Any = msgspec.defstruct(
    "_FastRequest",
    [("items", Annotated[list[_FastItem], msgspec.Meta(min_length=1)])],
    forbid_unknown_fields=True,
)
_decode_fast = msgspec.json.Decoder(_FastRequest).decode


def request_rows(body: bytes) -> list[tuple[float, float, float, float]]:
    """A `PredictionRequest`'s items as rows of FEATURES values, from its JSON.

    msgspec decodes and checks a valid body at a third of pydantic's cost, and holds no
    model object per item. Whatever it refuses goes to `PredictionRequest`, which has the
    last word: it answers the same rows, or raises the ValidationError naming each field.
    tests/contract/test_request_rows.py holds the two equal on accepted and refused bodies.
    """
    try:
        request = _decode_fast(body)
    except msgspec.MsgspecError:
        return list(map(measurements, PredictionRequest.model_validate_json(body).items))
    return list(map(measurements, request.items))


class ItemResult(BaseModel):
    prediction: str
    class_index: int
    probabilities: dict[str, float]
    cached: bool
    # Present only in an answer whose items come from more than one model version (a
    # canary computed the misses, the served version the cached items): then every item
    # names the version that computed it.
    model_version: str | None = Field(
        default=None,
        exclude_if=lambda version: version is None,
        description="The version that computed this item, when the answer's items differ",
    )


class PredictionResponse(BaseModel):
    # The version that computed the computed items; an answer of cached items only, the
    # served version they were cached by.
    model_version: str
    job_id: str | None
    items: list[ItemResult]


class JobAccepted(BaseModel):
    job_id: str
    status: JobStatus
    status_url: str

    @computed_field  # type: ignore[prop-decorator]
    @property
    def events_url(self) -> str:
        """The job's progress as server-sent events, instead of polling status_url."""
        return f"/jobs/{self.job_id}/events"


class JobView(BaseModel):
    """What `GET /jobs/{id}` answers."""

    job_id: str
    status: JobStatus
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    model_version: str | None = None
    items: list[ItemResult] | None = None
    error: str | None = None

    @classmethod
    def from_record(cls, job_id: str, raw: Mapping[bytes | str, bytes | str]) -> JobView | None:
        """The view of a job record's fields (HGETALL); None for a missing record."""
        fields = {_text(k): _text(v) for k, v in raw.items()}
        if JobField.CREATED_AT not in fields:
            return None
        status = JobStatus(fields[JobField.STATUS])
        items = None
        if status is JobStatus.DONE and JobField.RESULTS in fields:
            cached = orjson.loads(fields[JobField.CACHED])
            items = merge_items(
                cached,
                orjson.loads(fields[JobField.RESULTS]),
                fields.get(JobField.CACHED_VERSION),
                fields.get(JobField.MODEL_VERSION),
            )

        def number(name: JobField) -> float | None:
            value = fields.get(name)
            return float(value) if value is not None else None

        return cls.model_validate(
            {
                "job_id": job_id,
                "status": status,
                "created_at": float(fields[JobField.CREATED_AT]),
                "started_at": number(JobField.STARTED_AT),
                "finished_at": number(JobField.FINISHED_AT),
                "model_version": fields.get(JobField.MODEL_VERSION),
                "items": items,
                "error": fields.get(JobField.ERROR),
            }
        )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
