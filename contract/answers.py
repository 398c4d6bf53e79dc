"""The bytes of `POST /predict`'s answers, built from `ItemResult` and `PredictionResponse`.

Answers are written as bytes, not by dumping the models: the worker fills one template per
model with every probability of a task (one orjson call and one `%` for all of them), and the
gateway puts the worker's results, or the cache entries, into its response as they are. Every
template here is spelled from the models' own fields, in their order, so the bytes are the
models' JSON: `PredictionResponse.model_validate_json(answer).model_dump_json()` gives them
back unchanged (tests/contract/test_answers.py, for cached, computed and mixed answers).

- A cache entry is one item's result without `cached` (the same entry answers many requests).
- A job's results, in its record and its done outcome, are the JSON list of its computed
  items, each with `"cached":false`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import orjson

from contract.http import ItemResult, PredictionResponse
from contract.jobs import merge_items

# The models' field names, in the order they dump them.
PREDICTION, CLASS_INDEX, PROBABILITIES, CACHED, _ITEM_VERSION = ItemResult.model_fields
MODEL_VERSION, JOB_ID, ITEMS = PredictionResponse.model_fields


def _key(name: str) -> bytes:
    return orjson.dumps(name) + b":"


# A cache entry ends with its probabilities' closing brace and its own; an item in an answer
# has `cached` before the last brace.
_CACHED_TRUE = b"," + _key(CACHED) + b"true}"
_CACHED_FALSE = b"," + _key(CACHED) + b"false}"
_RESPONSE = b"{%b%%b,%b%%b,%b%%b}" % (_key(MODEL_VERSION), _key(JOB_ID), _key(ITEMS))
# What an entry or item holds before its class name: the class is read from the bytes that
# follow it up to the class index's key, which no JSON string can hold unescaped.
_PREDICTION_START = b"{" + _key(PREDICTION)
_CLASS_INDEX_START = b"," + _key(CLASS_INDEX)


class ItemTemplates:
    """A model's item JSON with `%` holes for the class and its probabilities.

    An item is `row % (heads[class_index], *probabilities)`, where each probability is its
    JSON number (as orjson writes it). Class names are JSON-escaped once, here.
    """

    def __init__(self, classes: Sequence[str]) -> None:
        names = [orjson.dumps(name) for name in classes]
        self.heads = [
            b"{%b%b,%b%d,%b{"
            % (_key(PREDICTION), name, _key(CLASS_INDEX), index, _key(PROBABILITIES))
            for index, name in enumerate(names)
        ]
        # A `%` in a class name is text, not a conversion.
        probabilities = b"%s" + b",".join(name.replace(b"%", b"%%") + b":%s" for name in names)
        # The probabilities' brace, then the item's.
        self.cache_entry = probabilities + b"}}"
        self.computed_item = probabilities + b"}" + _CACHED_FALSE


def cached_item(entry: bytes) -> bytes:
    """A cache entry as an item of an answer."""
    return entry[:-1] + _CACHED_TRUE


def items_json(cached: Sequence[bytes | None], results: bytes) -> bytes:
    """Request-order items: each cache entry where there is one, the job's results elsewhere.

    `cached` has one entry per item, None for a miss; `results` is the job's JSON list of its
    computed items, one per miss in order (b"[]" when there is none).
    """
    if None not in cached:
        return b"[" + b",".join(map(cached_item, cached)) + b"]"  # type: ignore[arg-type]
    if not any(cached):
        return results
    computed = iter(orjson.loads(results))
    return (
        b"["
        + b",".join(
            orjson.dumps(next(computed)) if entry is None else cached_item(entry)
            for entry in cached
        )
        + b"]"
    )


def labelled_items_json(
    cached: Sequence[bytes | None], cached_version: str, results: bytes, computed_version: str
) -> bytes:
    """`items_json` for an answer whose computed items come from another version than its
    cached ones (a canary's): every item names its version. Rare, so built the plain way."""
    return orjson.dumps(
        merge_items(cached, orjson.loads(results), cached_version, computed_version)
    )


def response_json(model_version: str | None, job_id: str | None, items: bytes) -> bytes:
    """A `PredictionResponse`'s JSON around its items' JSON (from `items_json`)."""
    return _RESPONSE % (orjson.dumps(model_version), orjson.dumps(job_id), items)


def predictions(entries: Iterable[bytes | None]) -> Counter[str]:
    """How many of the cache entries predict each class (None entries are skipped).

    The class is cut from each entry's bytes and decoded once per distinct spelling: a
    1,000-item answer costs one orjson call per class, not per item.
    """
    spellings = Counter(
        entry[len(_PREDICTION_START) : entry.index(_CLASS_INDEX_START)]
        for entry in entries
        if entry is not None
    )
    counts: Counter[str] = Counter()
    for spelling, count in spellings.items():
        counts[orjson.loads(spelling)] += count
    return counts
