"""Verification orchestration, sentence streaming, provenance, guidelines and the evidence gate."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest

from app.answer.gate import EvidenceGate, key_terms, signals
from app.answer.guidelines import GuidelineBook
from app.answer.provenance import ProvenanceSigner
from app.answer.verification import FLAG, AnswerVerification
from app.answer.writer import SentenceStream
from app.core.domain import Chunk, Query, Retrieval, ScoredChunk
from app.core.grounding import ABSTAIN, Citation, Support
from app.core.text import terms


class WordOverlapVerifier:
    """A transparent stand-in for the Verifier port (the real ones are tested in tests/verify and tests/llm): a claim
    is supported when ≥ 80 % of its content words occur in the evidence."""

    name = "overlap"

    def warm_up(self) -> None: ...

    def support(self, question: str, pairs: Sequence[tuple[str, str]]) -> list[Support]:
        out = []
        for claim, evidence in pairs:
            words = terms(claim)
            share = len(words & terms(evidence)) / len(words) if words else 0.0
            out.append(Support(share, share >= 0.8, "" if share >= 0.8 else f"overlap {share:.2f}"))
        return out


PASSAGES = {
    1: "Refunds are paid within 30 days of the return.",
    2: "Shipping is free for orders above 50 euros.",
}


class TestVerification:
    def test_supported_sentences_are_kept(self) -> None:
        r = AnswerVerification(WordOverlapVerifier()).verify("", "Refunds are paid within 30 days [1].", PASSAGES)
        assert r.support == 1.0 and not r.repaired and r.text == "Refunds are paid within 30 days [1]."
        assert r.verdicts[0].supported and r.verdicts[0].citations == (1,)

    def test_wrong_citation_is_corrected(self) -> None:
        r = AnswerVerification(WordOverlapVerifier()).verify("", "Shipping is free above 50 euros [1].", PASSAGES)
        v = r.verdicts[0]
        assert v.supported and v.corrected and v.cited == (1,) and v.citations == (2,)
        assert r.text == "Shipping is free above 50 euros [2]." and r.repaired

    def test_unsupported_sentence_is_removed_or_flagged(self) -> None:
        text = "Refunds are paid within 30 days [1]. Gift cards never expire [1]."
        removed = AnswerVerification(WordOverlapVerifier()).verify("", text, PASSAGES)
        assert removed.text == "Refunds are paid within 30 days [1]." and removed.support == 0.5
        assert not removed.verdicts[1].supported and not removed.verdicts[1].kept and removed.verdicts[1].reason
        flagged = AnswerVerification(WordOverlapVerifier(), "flag").verify("", text, PASSAGES)
        assert FLAG in flagged.text and flagged.verdicts[1].kept

    def test_uncited_sentence_gets_a_citation_when_supported(self) -> None:
        r = AnswerVerification(WordOverlapVerifier()).verify(
            "", "Shipping is free for orders above 50 euros.", PASSAGES
        )
        assert r.verdicts[0].citations == (2,) and "no citation" in r.verdicts[0].reason

    def test_citation_of_a_missing_passage_is_not_support(self) -> None:
        r = AnswerVerification(WordOverlapVerifier()).verify("", "Gift cards never expire [7].", PASSAGES)
        assert r.support == 0.0 and r.text == ""

    def test_bad_mode(self) -> None:
        with pytest.raises(ValueError):
            AnswerVerification(WordOverlapVerifier(), "ignore")


class TestSentenceStream:
    def test_sentences_come_out_when_finished(self) -> None:
        s = SentenceStream()
        assert s.feed("Refunds are paid within") == []
        assert s.feed(" 30 days [1]. Ship") == [("Refunds are paid within 30 days.", (1,))]
        assert s.feed("ping is free.") == []
        assert s.close() == [("Shipping is free.", ())]

    def test_dangling_citation_stays_with_its_sentence(self) -> None:
        s = SentenceStream()
        assert s.feed("Refunds take 30 days. [") == []
        assert s.feed("1] Shipping is free [2].") == [("Refunds take 30 days.", (1,))]
        assert s.close() == [("Shipping is free.", (2,))]

    def test_abstain_sentinel_stops(self) -> None:
        s = SentenceStream()
        s.feed(f"{ABSTAIN[:5]}")
        assert s.feed(ABSTAIN[5:]) == [] and s.abstained


class TestProvenance:
    def sign(self, signer: ProvenanceSigner, text: str) -> dict:
        cite = Citation(1, "c1", "d1", "x.txt", "Refunds are paid within 30 days.")
        return signer.sign_answer(
            text,
            request_id="r1",
            generator="extractive",
            model="extractive",
            tenant="t",
            collection="c",
            source="documents",
            citations=(cite,),
        )

    def test_round_trip_and_tampering(self) -> None:
        signer = ProvenanceSigner(b"k" * 32)
        record = self.sign(signer, "Refunds take 30 days [1].")
        assert signer.verify("Refunds take 30 days [1].", record)["valid"]
        changed = signer.verify("Refunds take 60 days [1].", record)
        assert changed["authentic"] and changed["unmodified"] is False and not changed["valid"]
        forged = signer.verify("Refunds take 30 days [1].", {**record, "model": "gpt"})
        assert not forged["authentic"] and not forged["valid"]
        other = ProvenanceSigner(b"z" * 32).verify("Refunds take 30 days [1].", record)
        assert not other["authentic"] and "another key" in other["reason"]
        assert record["chunks"][0]["chunk_id"] == "c1" and len(record["chunks"][0]["sha256"]) == 64

    def test_install_key_persists(self, tmp_path) -> None:
        a = ProvenanceSigner.from_settings(None, None, tmp_path)
        b = ProvenanceSigner.from_settings(None, None, tmp_path)
        assert a.key == b.key and (tmp_path / "provenance.key").stat().st_mode & 0o777 == 0o600
        assert ProvenanceSigner.from_settings(None, "admin-key", tmp_path).key != a.key
        with pytest.raises(ValueError):
            ProvenanceSigner(b"short")


class TestGuidelines:
    def test_builtin_override_and_merge(self) -> None:
        book = GuidelineBook({"medical": {"disclaimer": "Ask the nurse."}})
        assert book.for_categories(["medical"]).disclaimer == "Ask the nurse."
        assert book.for_categories(["violence"]) is None
        merged = book.for_categories(["legal", "self_harm"])
        assert merged.domain == "self_harm+legal" and "988" in merged.disclaimer
        with pytest.raises(ValueError):
            GuidelineBook({"medical": {"tone": "x"}})


def _retrieval(question: str, texts: list[str], dense: list[float], sparse: list[float | None]) -> Retrieval:
    chunks = tuple(
        ScoredChunk(Chunk(f"c{i}", "d", "t", "c", "x.txt", t, i, 0, len(t), "h", "v"), 1.0 / (i + 1), d, s, i + 1)
        for i, (t, d, s) in enumerate(zip(texts, dense, sparse, strict=True))
    )
    return Retrieval(Query(question, "c"), chunks)


class TestGate:
    def test_key_terms(self) -> None:
        assert {"arthur's", "1844"} <= key_terms("When was Arthur's Magazine founded in 1844?")
        assert "when" not in key_terms("When was it founded?")
        assert "退款" in key_terms("退款需要多少天")

    def test_signals_and_decisions(self) -> None:
        r = _retrieval("When was Arthur's Magazine founded?", ["Arthur's Magazine was founded in 1844."], [0.8], [9.0])
        sig = signals(r.query.text, r)
        assert sig["key_coverage"] == 1.0 and sig["both_legs"] == 1.0 and 0 < sig["sparse_norm"] < 1
        fallback = EvidenceGate(floor=0.4)
        assert fallback.decide(r.query.text, r).passed
        low = _retrieval("When was Arthur's Magazine founded?", ["Cats sleep a lot."], [0.2], [None])
        d = fallback.decide(low.query.text, low)
        assert not d.passed and "evidence floor" in d.reason
        empty = Retrieval(Query("x", "c"), ())
        assert not fallback.decide("x", empty).passed

    def test_calibrated_model_uses_key_coverage(self) -> None:
        gate = EvidenceGate.load()
        if not gate.weights:
            pytest.skip("no calibrated gate model committed")
        q = "Which magazine was started first, Arthur's Magazine or First for Women?"
        there = _retrieval(
            q, ["Arthur's Magazine (1844) was a periodical. First for Women is a magazine."], [0.75], [12.0]
        )
        elsewhere = _retrieval(q, ["Harper's Bazaar is a fashion magazine started in 1867."], [0.55], [3.0])
        assert gate.decide(q, there).probability > gate.decide(q, elsewhere).probability
        assert not math.isnan(gate.decide(q, there).probability)
