"""FeatureReranker: model-file validation, the committed model, and behaviour on hand-built candidates."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from app.core.domain import Chunk, ScoredChunk, content_hash, stable_id
from app.core.ports import Reranker
from retrievers.features import FEATURE_NAMES, compute_features, content_terms
from retrievers.rerank import DEFAULT_MODEL, FeatureReranker, load_model, parse_model

QUERY = "statins reduce cardiovascular mortality in elderly patients"
FILLER = [
    "Soil bacteria fix nitrogen in legume root nodules under drought.",
    "The telescope observed a distant quasar emitting radio bursts.",
    "Gene expression in yeast changes with glucose availability.",
    "Coral reefs bleach when ocean temperatures stay high for weeks.",
    "Children learn second languages faster with immersion programmes.",
]


def chunk(cid: str, text: str, doc: str, title: str = "", position: int = 0) -> Chunk:
    return Chunk(
        id=stable_id(cid),
        document_id=stable_id(doc),
        tenant="t1",
        collection="c1",
        external_id=doc,
        text=text,
        position=position,
        start=0,
        end=len(text),
        content_hash=content_hash(text),
        doc_hash=content_hash(doc),
        title=title,
    )


def scored(c: Chunk, rank: int, dense: float | None, sparse: float | None) -> ScoredChunk:
    return ScoredChunk(c, score=1 / (60 + rank), dense_score=dense, sparse_score=sparse, rank=rank)


def filler_candidates(n: int, seed: int = 0) -> list[ScoredChunk]:
    rnd = random.Random(seed)
    return [
        scored(
            chunk(f"f{i}", FILLER[i % len(FILLER)], f"doc-{i // 2}", f"Title {i // 2}", i % 2),
            i + 1,
            rnd.uniform(0.1, 0.4),
            rnd.choice([0.0, rnd.uniform(0.5, 4.0)]),
        )
        for i in range(n)
    ]


def good_model_json() -> dict:
    n = len(FEATURE_NAMES)
    return {
        "format": "grounded-reranker/1",
        "kind": "logistic",
        "features": list(FEATURE_NAMES),
        "mean": [0.0] * n,
        "scale": [1.0] * n,
        "weights": [0.1] * n,
        "bias": 0.0,
        "depth": 50,
    }


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "model.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data, encoding="utf-8")
    return path


class TestFeatureRerankerConstruction:
    def test_missing_file_is_refused_at_construction(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="not found"):
            FeatureReranker(tmp_path / "nope.json")

    def test_invalid_json_is_refused_at_warm_up(self, tmp_path: Path) -> None:
        reranker = FeatureReranker(write(tmp_path, "{not json"))
        with pytest.raises(ValueError, match="not valid JSON"):
            reranker.warm_up()

    def test_every_problem_is_listed(self, tmp_path: Path) -> None:
        data = good_model_json()
        data["features"] = list(FEATURE_NAMES[1:]) + ["colour"]
        data["scale"][0] = 0.0
        data["weights"] = [1.0, 2.0]
        data["format"] = "other/9"
        with pytest.raises(ValueError) as e:
            FeatureReranker(write(tmp_path, data)).warm_up()
        msg = str(e.value)
        for part in (
            "format",
            "missing ['dense']",
            "unknown ['colour']",
            "weights must be a list",
            "scale must be > 0",
        ):
            assert part in msg

    def test_not_an_object(self) -> None:
        with pytest.raises(ValueError, match="JSON object"):
            parse_model([1, 2, 3])

    def test_round_trip(self, tmp_path: Path) -> None:
        model = load_model(write(tmp_path, good_model_json()))
        again = parse_model(model.to_json())
        assert again.features == FEATURE_NAMES and again.depth == 50
        np.testing.assert_array_equal(again.weights, model.weights)


class TestCommittedModel:
    def test_loads_with_the_expected_features(self) -> None:
        reranker = FeatureReranker()
        reranker.warm_up()
        assert reranker.model_path == DEFAULT_MODEL
        assert reranker.model.features == FEATURE_NAMES
        assert reranker.depth == 50
        assert reranker.name == "feature-lr"
        assert isinstance(reranker, Reranker)

    def test_is_small_and_records_its_training(self) -> None:
        assert DEFAULT_MODEL.stat().st_size < 100_000
        info = load_model(DEFAULT_MODEL).info
        assert info["crossfit_ndcg@10"] > info["hybrid_ndcg@10"]


class TestFeatureRerankerBehaviour:
    @pytest.fixture(scope="class")
    def reranker(self) -> FeatureReranker:
        r = FeatureReranker()
        r.warm_up()
        return r

    def test_a_chunk_that_covers_the_query_ends_first(self, reranker: FeatureReranker) -> None:
        cands = filler_candidates(19)
        best = chunk(
            "best",
            "Statins reduce cardiovascular mortality in elderly patients, a randomised trial found.",
            "doc-best",
            "Statins and cardiovascular mortality in the elderly",
        )
        cands.append(scored(best, 20, 0.78, 14.0))  # last in first-pass order
        out = reranker.rerank(QUERY, cands)
        assert out[0].chunk.id == best.id
        assert out[0].dense_score == 0.78 and out[0].sparse_score == 14.0

    def test_output_is_a_permutation_with_ranks_one_to_n(self, reranker: FeatureReranker) -> None:
        cands = filler_candidates(30, seed=3)
        out = reranker.rerank(QUERY, cands)
        assert sorted(c.chunk.id for c in out) == sorted(c.chunk.id for c in cands)
        assert [c.rank for c in out] == list(range(1, 31))
        assert all(a.score >= b.score for a, b in zip(out, out[1:], strict=False))
        by_id = {c.chunk.id: c for c in cands}
        assert all(
            (c.dense_score, c.sparse_score) == (by_id[c.chunk.id].dense_score, by_id[c.chunk.id].sparse_score)
            for c in out
        )

    def test_empty_input(self, reranker: FeatureReranker) -> None:
        assert reranker.rerank(QUERY, []) == []

    def test_missing_scores_and_stopword_query(self, reranker: FeatureReranker) -> None:
        cands = [scored(chunk(f"c{i}", FILLER[i], f"d{i}"), i + 1, None, None) for i in range(3)]
        out = reranker.rerank("what is the", cands)
        assert len(out) == 3 and all(np.isfinite(c.score) for c in out)

    def test_lazy_load_without_warm_up(self) -> None:
        out = FeatureReranker().rerank(QUERY, filler_candidates(5))
        assert [c.rank for c in out] == [1, 2, 3, 4, 5]


class TestFeatures:
    def test_shape_and_ranges(self) -> None:
        x = compute_features(QUERY, filler_candidates(12))
        assert x.shape == (12, len(FEATURE_NAMES))
        assert np.all(np.isfinite(x))
        col = {n: x[:, i] for i, n in enumerate(FEATURE_NAMES)}
        assert col["dense_gap"].max() == 0.0 and col["bm25_rel"].max() <= 1.0
        assert np.all((col["coverage"] >= 0) & (col["coverage"] <= 1))

    def test_empty(self) -> None:
        assert compute_features(QUERY, []).shape == (0, len(FEATURE_NAMES))

    def test_content_terms_stem_and_drop_stopwords(self) -> None:
        assert content_terms("The Inductive properties of cells") == ["induct", "properti", "cell"]
        assert content_terms("Induction of a cell") == ["induct", "cell"]
