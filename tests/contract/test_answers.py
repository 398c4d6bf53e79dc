"""An answer's bytes, as the worker and the gateway write them, are the models' own JSON.

The worker fills contract.answers' templates (worker/tasks.py `_ResultsJson`); the gateway puts
its results and the cache entries into the response with `items_json` and `response_json`.
Each answer here, cached, computed and mixed, is compared byte for byte with
`PredictionResponse.model_validate(...)` dumped, and the cached entries' class counts with the
parsed entries'.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import orjson
from hypothesis import example, given
from hypothesis import strategies as st

from contract.answers import (
    ItemTemplates,
    items_json,
    labelled_items_json,
    predictions,
    response_json,
)
from contract.http import ItemResult, PredictionResponse
from contract.jobs import new_job_id
from worker.tasks import _ResultsJson

IRIS = ["setosa", "versicolor", "virginica"]
HOSTILE = ['a,"class_index":', 'b"}', "ç,{\\", "100%", "%s%d", "\n\t\x00", "\u2028"]

probability = st.one_of(st.sampled_from([0.0, 1.0, 1e-07, 5e-324, 0.1, 1 / 3]), st.floats(0.0, 1.0))
class_name = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=8))


@st.composite
def answers(draw: st.DrawFn) -> tuple[list[str], np.ndarray, list[bool]]:
    """Distinct class names, a probability row per item, and which items the cache answers."""
    classes = draw(st.lists(class_name, min_size=1, max_size=4, unique=True))
    n_items = draw(st.integers(1, 12))
    proba = np.array(
        draw(
            st.lists(
                st.lists(probability, min_size=len(classes), max_size=len(classes)),
                min_size=n_items,
                max_size=n_items,
            )
        ),
        dtype=np.float64,
    )
    from_cache = draw(st.lists(st.booleans(), min_size=n_items, max_size=n_items))
    return classes, proba, from_cache


def _dumped(answer: bytes) -> bytes:
    """What pydantic makes of the answer: validated from its parsed JSON, dumped again."""
    return PredictionResponse.model_validate(orjson.loads(answer)).model_dump_json().encode()


def _answer(
    classes: list[str], proba: np.ndarray, from_cache: list[bool], job_id: str | None
) -> tuple[bytes, list[bytes | None]]:
    """The response as the services build it: the worker computes the misses (its results
    JSON) and, earlier, wrote the cache entries of the hits; the gateway splices them."""
    results = _ResultsJson(classes, proba)
    entries = results.each(0, len(proba))
    cached: list[bytes | None] = [
        entry if hit else None for entry, hit in zip(entries, from_cache, strict=True)
    ]
    misses = [i for i, hit in enumerate(from_cache) if not hit]
    computed = _ResultsJson(classes, proba[misses]).json_list(0, len(misses))
    return response_json("rf-0123456789ab", job_id, items_json(cached, computed)), cached


@given(answers())
@example((IRIS, np.array([[1.0, 0.0, 0.0], [0.1, 0.2, 0.7]]), [True, True]))
@example((IRIS, np.array([[1.0, 0.0, 0.0], [0.1, 0.2, 0.7]]), [False, False]))
@example((HOSTILE, np.eye(len(HOSTILE)), [True, False] * 3 + [True]))
def test_answers_are_the_models_json_cached_computed_and_mixed(
    case: tuple[list[str], np.ndarray, list[bool]],
) -> None:
    classes, proba, from_cache = case
    job_id = None if all(from_cache) else new_job_id()
    answer, cached = _answer(classes, proba, from_cache, job_id)
    assert answer == _dumped(answer)
    items = orjson.loads(answer)["items"]
    assert [item["cached"] for item in items] == from_cache
    for item, row in zip(items, proba, strict=True):
        assert item["prediction"] == classes[int(row.argmax())]
        assert list(item["probabilities"].values()) == row.tolist()
    expected = Counter(item["prediction"] for item in items if item["cached"])
    assert predictions(cached) == expected


def test_the_templates_spell_the_models_fields_in_their_order() -> None:
    templates = ItemTemplates(["x"])
    item = templates.computed_item % (templates.heads[0], b"1.0")
    # `model_version` is left out of an item unless the answer mixes versions.
    assert list(orjson.loads(item)) == [*ItemResult.model_fields][:-1]
    assert [*ItemResult.model_fields][-1] == "model_version"
    answer = response_json("v", None, items_json([], b"[]"))
    assert list(orjson.loads(answer)) == list(PredictionResponse.model_fields)


def test_an_answer_mixing_versions_names_each_items_version_and_is_the_models_json() -> None:
    templates = ItemTemplates(["a", "b"])
    entry = templates.cache_entry % (templates.heads[1], b"0.25", b"0.75")
    computed = b"[" + templates.computed_item % (templates.heads[0], b"1.0", b"0.0") + b"]"
    items = labelled_items_json([None, entry], "rf-000000000001", computed, "rf-000000000002")
    answer = response_json("rf-000000000002", "j", items)
    assert answer == _dumped(answer)
    parsed = orjson.loads(answer)["items"]
    assert [(i["cached"], i["model_version"]) for i in parsed] == [
        (False, "rf-000000000002"),
        (True, "rf-000000000001"),
    ]
