"""IntentRouter: rules (English and Chinese), the prototype path with a scripted embedder, and the plan per intent."""

from __future__ import annotations

import time
from collections.abc import Sequence

import pytest

from app.adapters.embedders import HashEmbedder
from app.core.domain import Intent, IntentResult, Query
from retrievers.intents import PROTOTYPES
from retrievers.router import IntentRouter

EXAMPLES: dict[Intent, list[str]] = {
    Intent.FACTUAL: [
        "What is the refund window for online orders?",
        "Who approves travel expenses above the limit?",
        "hi, what is the refund window?",
        "What can you do if your laptop is stolen?",
        "How many sick days do I get?",
        "越南投资发展银行的英文名是什么？",
        "第三代蓝甲虫是怎么产生的？",
        "呋塞米是用来治疗什么的药物？",
    ],
    Intent.HOWTO: [
        "How do I reset my password?",
        "how to configure the VPN on a laptop",
        "What are the steps to submit an expense report?",
        "我怎么申请年假？",
        "如何设置双重认证？",
        "报销的流程是什么？",
    ],
    Intent.COMPARISON: [
        "Compare the basic and premium plans",
        "What is the difference between annual leave and sick leave?",
        "Python vs Java for data science",
        "年假和病假有什么区别？",
        "白葡萄酒和红葡萄酒所含有的亚硫酸盐有什么区别？",
        "大果西番莲和百香果相比，有什么不同？",
    ],
    Intent.SUMMARY: [
        "Summarize the travel policy",
        "Give me an overview of the employee handbook",
        "What are the key points of the security policy?",
        "总结一下这份文件",
        "概述员工手册的内容",
        "《鳄鱼泪》主要内容是什么？",
    ],
    Intent.CHITCHAT: [
        "hi there, how are you?",
        "Hello!",
        "thanks, that was really helpful",
        "who are you?",
        "你好",
        "谢谢你！",
        "你是谁？",
    ],
    Intent.OUT_OF_SCOPE: [
        "write a poem about the sea",
        "Can you tell me a joke?",
        "translate this into French",
        "what's the weather today?",
        "write a python function that reverses a string",
        "给我写一首诗",
        "讲个笑话",
        "明天天气怎么样？",
        "把这句话翻译成英文",
    ],
    Intent.SENSITIVE_MEDICAL: [
        "What dosage of ibuprofen should I take for my headache?",
        "I have a fever and a rash, what is my diagnosis?",
        "Is it safe to take aspirin while pregnant?",
        "我应该吃什么药？",
        "我发烧了，要不要去医院？",
        "我的症状是不是感冒？",
    ],
    Intent.SENSITIVE_LEGAL: [
        "Can I sue my landlord for not returning my deposit?",
        "Do I need a lawyer for my divorce?",
        "Is it legal for my employer to read my email?",
        "我想起诉我的老板，需要律师吗？",
        "我应该怎么打官司？",
        "离婚的时候我能不能要求赔偿？",
    ],
    Intent.SENSITIVE_FINANCIAL: [
        "Should I invest my savings in bitcoin?",
        "What stocks should I buy for retirement?",
        "Can I deduct my home office from my taxes?",
        "我应该投资股票还是基金？",
        "我该不该买这只股票？",
        "我的房贷要不要提前还？",
    ],
}

# Scientific claims (SciFact) are lookups: medical words, "compared to", a capital I or a dose change nothing.
CLAIMS = [
    "0-dimensional biomaterials show inductive properties.",
    "0-dimensional biomaterials lack inductive properties.",
    "ALDH1 expression is associated with poorer prognosis for breast cancer primary tumors.",
    "40mg/day dosage of folic acid and 2mg/day dosage of vitamin B12 does not affect chronic kidney disease (CKD) "
    "progression.",
    "In British Men, haplogroup I decreases risk of cardiovascular disease.",
    "Combination nicotine replacement therapies with varenicline or bupropion are more effective after 12 weeks of "
    "reatment compared to varenicline monotherapy.",
    "Taxation of sugar-sweetened beverages reduced the incidence rate of type II diabetes in India.",
]


def _pairs() -> list[tuple[Intent, str]]:
    return [(intent, text) for intent, texts in EXAMPLES.items() for text in texts]


class ScriptedEmbedder:
    """A fake embedder with one axis per intent: each prototype sentence points along its intent's axis; other
    texts get the vector scripted for them (or the factual axis). Counts calls."""

    name = "scripted"

    def __init__(self, scripted: dict[str, dict[Intent, float]] | None = None) -> None:
        self.axes = list(PROTOTYPES)
        self.dim = len(self.axes)
        self.scripted = scripted or {}
        self.batch_calls = 0
        self.query_calls = 0

    def warm_up(self) -> None:
        return None

    def _vec(self, text: str) -> list[float]:
        for intent, texts in PROTOTYPES.items():
            if text in texts:
                return [1.0 if a == intent else 0.0 for a in self.axes]
        weights = self.scripted.get(text, {Intent.FACTUAL: 1.0})
        v = [weights.get(a, 0.0) for a in self.axes]
        n = sum(x * x for x in v) ** 0.5 or 1.0
        return [x / n for x in v]

    def embed_batch(self, texts: Sequence[str]) -> list[list[float]]:
        self.batch_calls += 1
        return [self._vec(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        self.query_calls += 1
        return self._vec(text)


class TestConstruction:
    def test_defaults(self) -> None:
        router = IntentRouter()
        assert router.embedder is None and router.default_top_k == 5 and router.candidates == 50
        router.warm_up()  # nothing to embed without an embedder

    @pytest.mark.parametrize(
        "kwargs",
        [{"default_top_k": 0}, {"candidates": 0}, {"margin": 1.5}, {"min_similarity": -0.1}, {"faq_threshold": 2}],
    )
    def test_invalid(self, kwargs: dict) -> None:
        with pytest.raises(ValueError):
            IntentRouter(**kwargs)


class TestRules:
    @pytest.mark.parametrize(("intent", "text"), _pairs())
    def test_examples(self, intent: Intent, text: str) -> None:
        result = IntentRouter().classify(text)
        assert result.intent == intent, (text, result)
        assert result.reason

    @pytest.mark.parametrize(("intent", "text"), _pairs())
    def test_examples_hold_with_the_prototype_path(self, intent: Intent, text: str) -> None:
        router = IntentRouter(HashEmbedder(dim=256))
        router.warm_up()
        assert router.classify(text).intent == intent

    @pytest.mark.parametrize("claim", CLAIMS)
    def test_scientific_claims_are_factual(self, claim: str) -> None:
        for router in (IntentRouter(), IntentRouter(HashEmbedder(dim=256))):
            result = router.classify(claim)
            assert result.intent == Intent.FACTUAL, result
            assert router.plan(result, Query(claim, "c")).retrieve

    def test_rule_reason_names_the_rule(self) -> None:
        assert IntentRouter().classify("Summarize the travel policy").reason == "rule:summarize"
        assert IntentRouter().classify("tell me a joke").reason == "rule:joke"
        assert "dosage" in IntentRouter().classify("What dosage should I take?").reason

    def test_empty_and_whitespace(self) -> None:
        assert IntentRouter().classify("   ").intent == Intent.FACTUAL

    def test_full_width_text_is_normalised(self) -> None:
        assert IntentRouter().classify("ｈｅｌｌｏ！").intent == Intent.CHITCHAT

    def test_rules_are_fast(self) -> None:
        router = IntentRouter()
        texts = [t for _, t in _pairs()] + CLAIMS
        router.classify(texts[0])
        t = time.perf_counter()
        for _ in range(10):
            for text in texts:
                router.classify(text)
        per_call_ms = (time.perf_counter() - t) * 1000 / (10 * len(texts))
        assert per_call_ms < 1.0, per_call_ms


class TestFaqHook:
    def test_matcher_above_threshold_is_faq(self) -> None:
        router = IntentRouter(faq_matcher=lambda text: 0.95 if "refund" in text else 0.1)
        result = router.classify("What is the refund window?")
        assert result.intent == Intent.FAQ and result.reason == "faq_matcher" and result.scores["faq"] == 0.95
        assert router.classify("How do I reset my password?").intent == Intent.HOWTO

    def test_without_matcher_faq_is_never_chosen(self) -> None:
        assert all(IntentRouter().classify(t).intent != Intent.FAQ for _, t in _pairs())


class TestPrototypes:
    def test_warm_up_embeds_the_prototypes_once(self) -> None:
        emb = ScriptedEmbedder()
        router = IntentRouter(emb)
        router.warm_up()
        router.warm_up()
        assert emb.batch_calls == 1

    def test_a_question_no_rule_knows_goes_to_the_nearest_centroid_with_one_embedding(self) -> None:
        q = "What should a new hire read first about onboarding?"
        emb = ScriptedEmbedder({q: {Intent.SUMMARY: 1.0}})
        router = IntentRouter(emb)
        router.warm_up()
        result = router.classify(q)
        assert result.intent == Intent.SUMMARY and result.reason.startswith("prototype:summary")
        assert emb.query_calls == 1 and set(result.scores) == {i.value for i in PROTOTYPES}

    def test_ambiguous_falls_back_to_factual(self) -> None:
        q = "Which page explains onboarding?"
        emb = ScriptedEmbedder({q: {Intent.HOWTO: 1.0, Intent.COMPARISON: 0.95}})
        result = IntentRouter(emb).classify(q)  # warms up lazily
        assert result.intent == Intent.FACTUAL and "unsure" in result.reason

    def test_refusing_intents_need_a_closer_match(self) -> None:
        spread = {i: 0.3 for i in PROTOTYPES}
        near_chat, near_howto, close = "Who made the rules about breaks?", "Where are breaks set?", "Who made you?"
        emb = ScriptedEmbedder(
            {
                near_chat: {**spread, Intent.CHITCHAT: 0.7},
                near_howto: {**spread, Intent.HOWTO: 0.7},
                close: {Intent.CHITCHAT: 1.0},
            }
        )
        router = IntentRouter(emb)
        # cos 0.72 with a wide margin: enough for a retrieving intent, not for a refusal (needs 0.80)
        assert router.classify(near_howto).intent == Intent.HOWTO
        assert router.classify(near_chat).intent == Intent.FACTUAL
        assert router.classify(close).intent == Intent.CHITCHAT

    def test_statements_skip_the_embedding(self) -> None:
        emb = ScriptedEmbedder()
        result = IntentRouter(emb).classify(CLAIMS[0])
        assert result.intent == Intent.FACTUAL and result.reason == "rule:statement" and emb.query_calls == 0


class TestPlan:
    def plan(self, intent: Intent, top_k: int = 5):
        return IntentRouter(candidates=50).plan(IntentResult(intent, 1.0, "test"), Query("q", "c", top_k=top_k))

    @pytest.mark.parametrize("intent", [Intent.FACTUAL, *[i for i in Intent if i.value.startswith("sensitive")]])
    def test_factual_and_sensitive_are_plain_lookups(self, intent: Intent) -> None:
        p = self.plan(intent, top_k=7)
        assert p.intent == intent and p.retrieve and p.rerank and p.top_k == 7 and p.candidates == 50
        assert not p.expand_neighbours and p.min_documents == 1 and p.mmr_lambda is None

    def test_howto(self) -> None:
        p = self.plan(Intent.HOWTO)
        assert p.expand_neighbours and p.per_document_cap >= 6 and "manual" in p.prefer_templates and p.top_k == 5

    def test_comparison(self) -> None:
        p = self.plan(Intent.COMPARISON)
        assert p.min_documents == 2 and p.mmr_lambda == 0.7 and p.per_document_cap == 2
        assert p.candidates > 50 and p.top_k >= 5
        assert self.plan(Intent.COMPARISON, top_k=20).top_k == 20

    def test_summary(self) -> None:
        p = self.plan(Intent.SUMMARY, top_k=3)
        assert p.top_k >= 8 and p.expand_neighbours and p.token_budget == 3000 and p.mmr_lambda is not None
        assert self.plan(Intent.SUMMARY, top_k=12).top_k == 12

    @pytest.mark.parametrize("intent", [Intent.CHITCHAT, Intent.OUT_OF_SCOPE])
    def test_no_retrieval(self, intent: Intent) -> None:
        assert not self.plan(intent).retrieve

    def test_faq_is_small(self) -> None:
        p = self.plan(Intent.FAQ, top_k=10)
        assert p.retrieve and p.top_k <= 3

    def test_candidates_never_below_top_k(self) -> None:
        assert self.plan(Intent.FACTUAL, top_k=80).candidates >= 80
