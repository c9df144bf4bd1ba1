"""The fast verifier: the committed model, the hard-fail and verbatim rules, and its held-out accuracy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.core.grounding import Support
from app.core.ports import Verifier
from app.verify.fast import DEFAULT_MODEL, FastVerifier, load_model
from app.verify.features import FEATURE_NAMES, compute_features
from tests.conftest import shared_data

EVIDENCE = (
    "The Harbor Lantern Group is a hotel company with its head office in Lisbon. It was founded in 1934 by Marta "
    "Vilanova. The group employs over 12,000 people."
)
QUESTION = "Where is the head office of the Harbor Lantern Group?"
ZH_EVIDENCE = "市长王建华当地时间21日下午在杭州同德国代表团团长施密特举行会谈。今年适逢两市结好65周年。"

# Measured on the whole held-out part: 0.907 (eval.train_verifier); the 300-row slice below measures 0.90.
HALUEVAL_FLOOR = 0.85


@pytest.fixture(scope="session")
def verifier() -> FastVerifier:
    v = FastVerifier()
    v.warm_up()
    return v


class TestConstruction:
    def test_committed_model_loads(self) -> None:
        model = load_model(DEFAULT_MODEL)
        assert model.features == FEATURE_NAMES and 0 < model.threshold < 1
        assert DEFAULT_MODEL.stat().st_size < 20_000
        card = json.loads(DEFAULT_MODEL.with_suffix(".json").read_text(encoding="utf-8"))
        assert card["threshold"] == pytest.approx(model.threshold)
        assert card["held_out_metrics"]["halueval"]["balanced_accuracy"] >= HALUEVAL_FLOOR

    def test_is_a_verifier(self, verifier: FastVerifier) -> None:
        assert isinstance(verifier, Verifier) and verifier.name == "fast"
        assert verifier.threshold == load_model(DEFAULT_MODEL).threshold

    def test_threshold_override(self) -> None:
        assert FastVerifier(threshold=0.7).threshold == 0.7

    @pytest.mark.parametrize("threshold", [0.0, 1.0, -0.1, 1.5])
    def test_invalid_threshold(self, threshold: float) -> None:
        with pytest.raises(ValueError, match="threshold"):
            FastVerifier(threshold=threshold)

    def test_missing_model_file(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="not found"):
            FastVerifier(model_path=tmp_path / "nope.npz")

    def test_invalid_model_file_lists_problems(self, tmp_path: Path) -> None:
        path = tmp_path / "bad.npz"
        np.savez(path, format=np.array("other/1"), features=np.array(["coverage"]), threshold=np.array(2.0))
        with pytest.raises(ValueError) as e:
            FastVerifier(model_path=path).warm_up()
        message = str(e.value)
        assert "format" in message and "features must be exactly" in message and "threshold" in message

    def test_save_and_load_round_trip(self, tmp_path: Path) -> None:
        model = load_model(DEFAULT_MODEL)
        model.save(tmp_path / "copy.npz")
        again = load_model(tmp_path / "copy.npz")
        assert np.allclose(again.weights, model.weights) and again.threshold == model.threshold


class TestSupport:
    @pytest.mark.parametrize(
        ("claim", "evidence"),
        [
            ("The Harbor Lantern Group is a hotel company with its head office in Lisbon.", EVIDENCE),
            ("It was founded in 1934 by Marta Vilanova [1].", EVIDENCE),
            ("Lisbon", EVIDENCE),
            ("今年适逢两市结好65周年。", ZH_EVIDENCE),
        ],
    )
    def test_quoted_sentence_is_supported(self, verifier: FastVerifier, claim: str, evidence: str) -> None:
        [s] = verifier.support(QUESTION, [(claim, evidence)])
        assert s.supported and not s.hard_fail and s.score >= 0.99

    def test_paraphrase_with_the_same_facts_is_supported(self, verifier: FastVerifier) -> None:
        [s] = verifier.support(QUESTION, [("The head office of the Harbor Lantern Group is in Lisbon [1].", EVIDENCE)])
        assert s.supported and s.score >= verifier.threshold

    @pytest.mark.parametrize(
        ("claim", "evidence", "missing"),
        [
            ("The Harbor Lantern Group was founded in 1943.", EVIDENCE, 'number "1943"'),
            ("The group employs over 15,000 people.", EVIDENCE, 'number "15,000"'),
            ("The head office of the Harbor Lantern Group is in Porto.", EVIDENCE, 'entity "Porto"'),
            ("今年适逢两市结好70周年。", ZH_EVIDENCE, 'number "70"'),
            ("王建华在北京同施密特举行会谈。", ZH_EVIDENCE, 'entity "北京"'),
        ],
    )
    def test_wrong_number_or_entity_hard_fails(
        self, verifier: FastVerifier, claim: str, evidence: str, missing: str
    ) -> None:
        [s] = verifier.support(QUESTION, [(claim, evidence)])
        assert s.hard_fail and not s.supported and missing in s.reason
        assert s.score < verifier.threshold

    def test_flipped_negation_is_not_supported(self, verifier: FastVerifier) -> None:
        [s] = verifier.support(QUESTION, [("The Harbor Lantern Group is not a hotel company.", EVIDENCE)])
        assert not s.supported and not s.hard_fail and "negation" in s.reason

    def test_invented_content_is_weak(self, verifier: FastVerifier) -> None:
        claim = "The Harbor Lantern Group is famous for its luxury spa resorts and private island villas."
        [s] = verifier.support(QUESTION, [(claim, EVIDENCE)])
        assert not s.supported and "weak support" in s.reason and "luxury" in s.reason

    def test_batch_keeps_order_and_best_evidence_wins(self, verifier: FastVerifier) -> None:
        claim = "It was founded in 1934."
        out = verifier.support(QUESTION, [(claim, "Unrelated text about trains."), (claim, EVIDENCE)])
        assert len(out) == 2 and all(isinstance(s, Support) for s in out)
        assert not out[0].supported and out[1].supported

    def test_empty_batch_and_punctuation_claim(self, verifier: FastVerifier) -> None:
        assert verifier.support(QUESTION, []) == []
        [s] = verifier.support(QUESTION, [("”", EVIDENCE)])
        assert s.supported

    def test_features_are_finite_and_bounded(self, verifier: FastVerifier) -> None:
        batch = verifier.features(QUESTION, [("It is in Lisbon.", EVIDENCE), ("", ""), ("是的。", ZH_EVIDENCE)])
        assert batch.x.shape == (3, len(FEATURE_NAMES)) and np.all(np.isfinite(batch.x))
        without = compute_features(QUESTION, [("It is in Lisbon.", EVIDENCE)])
        assert without.x[0, FEATURE_NAMES.index("embed_sentence")] == 0.0


class TestHeldOutAccuracy:
    def test_halueval_held_out_slice(self, verifier: FastVerifier) -> None:
        """Balanced accuracy on 300 rows of the held-out split (600 answers) that the model never saw."""
        from eval.train_verifier import HALUEVAL, halueval_examples
        from eval.verify_suite import evaluate_rows

        path = shared_data("grounding", HALUEVAL)
        held_out = [e for e in halueval_examples(path) if e.held_out][:600]
        result = evaluate_rows([e.row(i) for i, e in enumerate(held_out, start=1)], verifier)
        assert result["rows"] == 600 and result["n_failed"] == 0
        assert result["balanced_accuracy"] >= HALUEVAL_FLOOR, result
