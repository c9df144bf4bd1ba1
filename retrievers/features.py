"""Reranking features: what a first-pass candidate list says about each chunk, normalised within that list.

Every feature is computed from the candidates alone (their scores, ranks, text, title, position and document) plus
the query's words: nothing is re-embedded and no index is read, so 50 candidates cost about two milliseconds.
Scores are made comparable across queries by normalising within the list (score / max, rank-based transforms),
because dense cosines and BM25 scores live on different scales (see STYLE.md, "Retrieval specifics").
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import Stemmer

from app.core.domain import ScoredChunk
from app.core.text import STOPWORDS

# The order is the model file's contract: `FeatureReranker` refuses a file whose names differ.
FEATURE_NAMES: tuple[str, ...] = (
    "dense",  # cosine similarity of query and chunk
    "dense_gap",  # cosine minus the list's best cosine (≤ 0)
    "dense_rank",  # 1 / log2(1 + rank by cosine)
    "bm25_rel",  # BM25 / the list's best BM25 (0 = no term matched)
    "bm25_rank",  # 1 / log2(1 + rank by BM25); 0 without a lexical match
    "rrf_rank",  # 1 / log2(1 + first-pass rank)
    "coverage",  # share of query terms (stemmed) found in the chunk or its title
    "coverage_idf",  # the same, each term weighted by its rarity among the candidates
    "title_coverage",  # share of query terms found in the title
    "bigram",  # share of the query's adjacent term pairs found adjacent in the chunk
    "first_chunk",  # 1 for a document's first chunk (abstract opening, topic sentence)
    "doc_support",  # log(1 + other candidates from the same document)
    "doc_dense_gap",  # best cosine of the chunk's document minus the list's best cosine
    "doc_bm25_rel",  # best BM25 of the chunk's document / the list's best BM25
    "length",  # log chunk length in characters, centred on an 800-character chunk
    # Interactions a linear model cannot form itself; each measurably helped in cross-validation on SciFact.
    "title_x_doc_rrf",  # title coverage × the document's summed first-pass rank support
    "doc_dense_x_bm25",  # doc_dense_gap × doc_bm25_rel: a document strong on both legs
    "dense_x_doc_bm25",  # cosine × doc_bm25_rel: lexical support counts more when the semantic match is good
    "dense_gap_sq",  # dense_gap²: lets the score fall off faster far from the best cosine
)

_WORD = re.compile(r"[a-z0-9]+|[\u4e00-\u9fff]")
_STEMMER = Stemmer.Stemmer("english")
# word → stem ("" for a stopword). Filled lazily and shared by every call: the same words recur across candidates
# and queries, and a dict lookup in C is what keeps 50 candidates within a few milliseconds.
_STEMS: dict[str, str] = dict.fromkeys(STOPWORDS, "")
_STEMS_MAX = 500_000


def content_terms(text: str) -> list[str]:
    """Stemmed, lower-cased content words in reading order (stopwords removed), for coverage and phrase overlap."""
    words = _WORD.findall(text.lower())
    try:
        return list(filter(None, map(_STEMS.__getitem__, words)))
    except KeyError:
        pass
    if len(_STEMS) > _STEMS_MAX:
        _STEMS.clear()
        _STEMS.update(dict.fromkeys(STOPWORDS, ""))
    new = list(set(words).difference(_STEMS))
    learned = dict(zip(new, _STEMMER.stemWords(new), strict=True))
    _STEMS.update(learned)
    # Read from both maps: another thread may have cleared the shared one in between.
    return [t for t in (_STEMS.get(w) if w in _STEMS else learned.get(w, "") for w in words) if t]


def _rank_transform(values: np.ndarray, present: np.ndarray | None = None) -> np.ndarray:
    """1 / log2(1 + rank), rank 1 = highest value; entries where `present` is False get 0."""
    order = np.argsort(-values, kind="stable")
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.arange(1, len(values) + 1)
    out = 1.0 / np.log2(1.0 + ranks)
    return out if present is None else np.where(present, out, 0.0)


def _matches(patterns: list[str], texts: list[str]) -> np.ndarray:
    """Boolean matrix (texts × patterns): does the space-padded pattern occur in the space-padded text."""
    if not patterns:
        return np.zeros((len(texts), 0), dtype=bool)
    return np.array([[p in t for p in patterns] for t in texts], dtype=bool)


def compute_features(query: str, candidates: Sequence[ScoredChunk]) -> np.ndarray:
    """Feature matrix (len(candidates) × len(FEATURE_NAMES)) in `FEATURE_NAMES` order.

    Args:
        query: the query text (only its words are used).
        candidates: first-pass candidates in first-pass order.

    Returns:
        A float64 array; an empty (0 × n_features) array for no candidates.
    """
    n = len(candidates)
    out = np.zeros((n, len(FEATURE_NAMES)), dtype=np.float64)
    if n == 0:
        return out
    dense = np.array([c.dense_score or 0.0 for c in candidates], dtype=np.float64)
    bm25 = np.array([max(c.sparse_score or 0.0, 0.0) for c in candidates], dtype=np.float64)
    best_dense = float(dense.max())
    best_bm25 = float(bm25.max()) or 1.0

    # Document-level support: the evaluation unit is the document, and a document that several candidates point
    # at, or that is strong on one leg through another chunk, is more likely the answer.
    docs = [c.chunk.document_id for c in candidates]
    doc_dense: dict[str, float] = {}
    doc_bm25: dict[str, float] = {}
    doc_count: dict[str, int] = {}
    doc_rrf: dict[str, float] = {}
    for i, (d, ds, bs) in enumerate(zip(docs, dense.tolist(), bm25.tolist(), strict=True)):
        doc_dense[d] = max(doc_dense.get(d, -1.0), ds)
        doc_bm25[d] = max(doc_bm25.get(d, 0.0), bs)
        doc_count[d] = doc_count.get(d, 0) + 1
        doc_rrf[d] = doc_rrf.get(d, 0.0) + 1.0 / (10 + i)  # reciprocal-rank support, summed over the document

    # Lexical evidence: texts become space-joined stems, so a term or an adjacent pair is one substring test.
    q_seq = content_terms(query)
    q_terms = [f" {t} " for t in dict.fromkeys(q_seq)]
    q_pairs = list(dict.fromkeys(f" {a} {b} " for a, b in zip(q_seq, q_seq[1:], strict=False) if a != b))
    bodies = [f" {' '.join(content_terms(c.chunk.text))} " for c in candidates]
    titles: dict[str, str] = {}  # a document's chunks share its title: tokenise it once
    for c in candidates:
        if c.chunk.title not in titles:
            titles[c.chunk.title] = f" {' '.join(content_terms(c.chunk.title))} "
    in_title = _matches(q_terms, [titles[c.chunk.title] for c in candidates])
    in_any = _matches(q_terms, bodies) | in_title
    if q_terms:
        # Rarity among the candidates: a query term that every candidate contains does not tell them apart.
        idf = np.log((n + 1) / (in_any.sum(axis=0) + 0.5))
        out[:, 6] = in_any.mean(axis=1)
        out[:, 7] = (in_any @ idf) / (idf.sum() or 1.0)
        out[:, 8] = in_title.mean(axis=1)
    if q_pairs:
        out[:, 9] = _matches(q_pairs, bodies).mean(axis=1)

    out[:, 0] = dense
    out[:, 1] = dense - best_dense
    out[:, 2] = _rank_transform(dense)
    out[:, 3] = bm25 / best_bm25
    out[:, 4] = _rank_transform(bm25, bm25 > 0)
    first_pass = np.array([c.rank or i + 1 for i, c in enumerate(candidates)], dtype=np.float64)
    out[:, 5] = 1.0 / np.log2(1.0 + first_pass)
    out[:, 10] = [1.0 if c.chunk.position == 0 else 0.0 for c in candidates]
    out[:, 11] = np.log([doc_count[d] for d in docs])
    out[:, 12] = np.array([doc_dense[d] for d in docs]) - best_dense
    out[:, 13] = np.array([doc_bm25[d] for d in docs]) / best_bm25
    out[:, 14] = np.log(np.array([max(len(c.chunk.text), 1) for c in candidates]) / 800.0)
    out[:, 15] = out[:, 8] * np.array([doc_rrf[d] for d in docs])
    out[:, 16] = out[:, 12] * out[:, 13]
    out[:, 17] = dense * out[:, 13]
    out[:, 18] = out[:, 1] ** 2
    return out
