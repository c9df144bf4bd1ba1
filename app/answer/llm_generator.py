"""The LLM generator: a chat model writes the answer from numbered passages, citing them as [n], or abstains.

Unlike the extractive generator it can paraphrase, and so it can also invent: its sentences must be verified
(the answer service runs a `Verifier` on them).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence

from app.answer.prompts import build_messages
from app.core.grounding import ABSTAIN, Generation, Guidelines, Passage
from app.core.ports import LanguageModel

log = logging.getLogger(__name__)

# The sentinel as models actually write it: upper case with `_` or spaces, or all lower case with `_`; maybe in
# quotes, backticks or bold. (Not "not in documents": that can be part of a real answer sentence.)
_SENTINEL = re.compile(r"[`'\"*]*\b(?:NOT[_ ]IN[_ ]DOCUMENTS|not_in_documents)\b[`'\"*]*\.?")
# A stream holds back this many characters, so a sentinel is never half-yielded before it is recognised.
_HOLD = len(ABSTAIN) + 4


class LLMGenerator:
    """Answers with a `LanguageModel` through the grounded prompt of `app.answer.prompts`.

    The output abstains when it contains the `ABSTAIN` sentinel anywhere or is empty; `Generation.text` is then
    what the model wrote besides the sentinel (for logs; never an answer to show).

    Usage::

        gen = LLMGenerator(LlamaCppModel("qwen2.5-coder-1.5b"), max_tokens=384)
        gen.warm_up()
        out = gen.generate("How long is the refund window?", passages)   # "Refunds ... within 30 days [1]."
    """

    def __init__(
        self, model: LanguageModel, max_tokens: int = 384, temperature: float = 0.0, examples: bool = True
    ) -> None:
        """
        Args:
            model: the chat model.
            max_tokens: tokens generated per answer at most.
            temperature: 0 is greedy (reproducible).
            examples: send the prompt's worked examples (small local models need them; see app/answer/prompts.py).
        """
        if max_tokens < 1:
            raise ValueError("max_tokens must be >= 1")
        if not 0 <= temperature <= 2:
            raise ValueError("temperature must be within [0, 2]")
        self.model = model
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.examples = examples
        self.name = model.name

    def warm_up(self) -> None:
        self.model.warm_up()
        self.name = self.model.name  # an endpoint model learns its name at warm-up

    def generate(self, question: str, passages: Sequence[Passage], guidelines: Guidelines | None = None) -> Generation:
        """The answer to `question` from `passages`, or an abstention (no passages: abstains without a call).

        Raises:
            ModelError: the model failed or timed out (a fault, unlike an abstention).
        """
        if not passages:
            return Generation(text="", model=self.model.name, abstained=True)
        raw = self.model.chat(
            build_messages(question, passages, guidelines, self.examples),
            max_tokens=self.max_tokens,
            temperature=self.temperature,
        )
        text = raw.strip()
        if not text or _SENTINEL.search(text):
            residue = _SENTINEL.sub(" ", text).strip()
            if residue:
                log.debug("abstained with text", extra={"model": self.name, "residue": residue[:200]})
            return Generation(text=residue, model=self.model.name, abstained=True)
        return Generation(text=text, model=self.model.name)

    def stream(self, question: str, passages: Sequence[Passage], guidelines: Guidelines | None = None) -> Iterator[str]:
        """The answer as text deltas. An abstention yields `ABSTAIN` as its own piece: alone when the model abstains
        at once or writes nothing, last when it abstains after some text (the consumer then discards that text).
        The model stops as soon as the sentinel is seen."""
        if not passages:
            yield ABSTAIN
            return
        deltas = iter(
            self.model.stream_chat(
                build_messages(question, passages, guidelines, self.examples),
                max_tokens=self.max_tokens,
                temperature=self.temperature,
            )
        )
        raw = ""
        sent = 0  # characters of the left-stripped output already yielded
        try:
            for delta in deltas:
                raw += delta
                out = raw.lstrip()
                if _SENTINEL.search(out):
                    yield ABSTAIN
                    return
                if len(out) - _HOLD > sent:
                    yield out[sent : len(out) - _HOLD]
                    sent = len(out) - _HOLD
        finally:
            close = getattr(deltas, "close", None)
            if close is not None:
                close()  # frees the model (llama.cpp serves one call at a time)
        out = raw.strip()
        if not out:
            yield ABSTAIN
        elif len(out) > sent:
            yield out[sent:]
