"""Reranker training helpers: deterministic folds, fitting, and the model file it writes."""

from __future__ import annotations

import numpy as np

from eval.train_reranker import fit, fold_of, reranked_ids
from retrievers.features import FEATURE_NAMES
from retrievers.rerank import parse_model


def test_folds_are_deterministic_and_balanced() -> None:
    ids = [str(i) for i in range(1000)]
    folds = [fold_of(q, 2) for q in ids]
    assert folds == [fold_of(q, 2) for q in ids]
    assert 400 < sum(folds) < 600


def test_fit_learns_the_informative_feature_and_round_trips() -> None:
    rng = np.random.default_rng(0)
    xs, ys = [], []
    for _ in range(40):
        x = rng.normal(size=(20, len(FEATURE_NAMES)))
        y = (x[:, 0] > 1.0).astype(float)
        xs.append(x)
        ys.append(y)
    model = fit(xs, ys, c=1.0, depth=20)
    assert int(np.argmax(model.weights)) == 0
    again = parse_model(model.to_json())
    np.testing.assert_allclose(again.score(xs[0]), model.score(xs[0]), atol=1e-5)


def test_reranked_ids_keep_the_tail_in_first_pass_order() -> None:
    from tests.retrievers.test_rerank import filler_candidates

    cands = filler_candidates(6)
    ids = reranked_ids(cands, np.array([0.0, 0.0, 5.0]), depth=3)
    assert ids == [cands[i].chunk.external_id for i in (2, 0, 1, 3, 4, 5)]
