"""Evaluation sets for benchmarks/chunking_quality.py: a SciFact subset, CMRC2018 as BEIR files, and FAQ queries
with row-level relevance built from real Q&A tables.

Nothing here touches the service's chunk templates: the FAQ ground truth (where a row's question and answer are
in the parsed document text) comes from the parsed table text itself, so that it cannot agree with a template by
construction.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from common import SCIFACT, SHARED, require

CMRC = SHARED / "retrieval" / "cmrc2018" / "cmrc2018_trial_squad.json"
FAQ_TABLES = (
    SHARED / "documents" / "zh-samples" / "langchain-ChatGLM_open.csv",
    SHARED / "documents" / "zh-samples" / "langchain-ChatGLM_closed.csv",
)


@dataclass(frozen=True)
class BeirSet:
    """A BEIR corpus file to upload, its judged queries, and how it was cut (`note`)."""

    name: str
    corpus: Path
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    documents: int
    note: str


def scifact_subset(dest: Path, n_queries: int, n_docs: int) -> BeirSet:
    """SciFact train queries with their judgements, over a corpus of every document they judge plus the first
    corpus documents (file order) as distractors up to `n_docs` (0: the whole corpus; `n_queries` 0: all)."""
    from eval.retrieval import load_qrels, load_queries

    qrels_all = load_qrels(require(SCIFACT / "qrels" / "train.tsv"))
    queries_all = load_queries(require(SCIFACT / "queries_train.jsonl"))
    judged = [qid for qid in queries_all if qid in qrels_all]
    chosen = judged[:n_queries] if n_queries else judged
    queries = {qid: queries_all[qid] for qid in chosen}
    qrels = {qid: qrels_all[qid] for qid in chosen}
    needed = {doc for rels in qrels.values() for doc in rels}
    lines = require(SCIFACT / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    total = len(lines)
    if n_docs and n_docs < total:
        keep = [ln for ln in lines if str(json.loads(ln)["_id"]) in needed]
        room = max(n_docs - len(keep), 0)
        keep += [ln for ln in lines if str(json.loads(ln)["_id"]) not in needed][:room]
        lines = keep
    dest.mkdir(parents=True, exist_ok=True)
    corpus = dest / "corpus.jsonl"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    note = (
        f"train queries {len(queries)}/{len(judged)} (the test qrels are not in the data); corpus {len(lines)}/{total}"
        " documents: every judged one plus the first others in file order"
    )
    return BeirSet("scifact", corpus, queries, qrels, len(lines), note)


def cmrc_set(dest: Path, n_queries: int) -> BeirSet:
    """CMRC2018 trial: every passage, the first `n_queries` questions (0: all) that are not empty, question → its
    passage."""
    from retrieval_cmrc import to_beir

    from eval.retrieval import load_qrels, load_queries

    corpus, qpath, rpath, n_passages = to_beir(require(CMRC), dest)
    queries, qrels = load_queries(qpath), load_qrels(rpath)
    if n_queries:
        queries = dict(list(queries.items())[:n_queries])
    empty = [q for q, text in queries.items() if not text.strip()]  # the service refuses an empty query
    queries = {q: text for q, text in queries.items() if q not in empty}
    note = f"all {n_passages} passages; {len(queries)} questions ({len(empty)} empty ones left out)"
    return BeirSet("cmrc2018", corpus, queries, {q: qrels[q] for q in queries}, n_passages, note)


# -- FAQ tables ---------------------------------------------------------------------------------------------------

_CELL = re.compile(r"\s*\|\s*")
# Light, generic query rewording: what a user leaves out when asking the same thing again.
_TAG = re.compile(r"^\s*[\[【][^\]】]{1,16}[\]】]\s*")  # "[BUG] ", "【求助】"
_FILLERS = "请问一下 请问 请教一下 请教 大佬们 大佬 各位 谢谢 求助 求教 萌新 麻烦 如题".split()  # longest first
_QUOTES = re.compile(r"[\"'`“”‘’]")
_CLAUSE = re.compile(r"[，。？！；：、,;!?()（）\[\]【】]+|[.:](?=\s|$)")
_PUNCT_SPACE = re.compile(r"[\W_]+", re.UNICODE)


def reword(question: str) -> str:
    """A deterministic light rewording of a stored question: NFKC, no leading tag, no politeness fillers, no quote
    marks, and only its longest clause when it has several (all clauses when that one is under 4 characters)."""
    t = unicodedata.normalize("NFKC", question).strip()
    while m := _TAG.match(t):
        t = t[m.end() :]
    for filler in _FILLERS:
        t = t.replace(filler, " ")
    t = " ".join(_QUOTES.sub(" ", t).split())
    clauses = [c.strip() for c in _CLAUSE.split(t) if c and c.strip()]
    if not clauses:
        return question.strip()
    key = max(clauses, key=len)
    return " ".join((key if len(key) >= 4 else " ".join(clauses)).split())


def same_words(a: str, b: str) -> bool:
    """Equal once case, punctuation and spacing are ignored."""
    return _PUNCT_SPACE.sub("", a.lower()) == _PUNCT_SPACE.sub("", b.lower())


def cell_spans(line: str) -> list[tuple[int, int]]:
    """The (start, end) of each cell of a table line as the parser writes it (``a | b | c``), spaces excluded."""
    spans, start = [], 0
    for m in [*_CELL.finditer(line), None]:
        end = m.start() if m else len(line)
        cell = line[start:end]
        lead = len(cell) - len(cell.lstrip())
        spans.append((start + lead, start + lead + len(cell.strip())))
        start = m.end() if m else start
    return spans


@dataclass(frozen=True)
class FaqQuery:
    """One table row as a query: its stored question, a reworded form, and the span in the parsed document text
    from the start of the question cell to the end of the answer cell (a chunk covering it holds the answer)."""

    qid: str
    filename: str
    question: str
    reworded: str
    start: int
    end: int


@dataclass(frozen=True)
class FaqSet:
    """The tables to upload, the row queries, how many rows they had and why the others were left out."""

    files: tuple[Path, ...]
    queries: tuple[FaqQuery, ...]
    rows: int
    excluded: dict[str, int]


def faq_set(files: tuple[Path, ...], question_column: str, answer_column: str) -> FaqSet:
    """Parse each table with the service's parser and turn every row that has a question and an answer into a
    query. Rows are excluded (counted by reason) when their cells do not line up with the header, or when their
    question text occurs more than once across the tables (no single right row)."""
    from app.adapters.unstructured_parser import UnstructuredParser

    parser = UnstructuredParser()
    found: list[FaqQuery] = []
    excluded: Counter[str] = Counter()
    rows = 0
    for path in files:
        doc = parser.parse(str(require(path)), path.name)[0]
        for el in (e for e in doc.elements if e.kind == "table"):
            lines = el.text.split("\n")
            header = [lines[0][s:e].lower() for s, e in cell_spans(lines[0])]
            if question_column not in header or answer_column not in header:
                excluded["table without the question/answer columns"] += 1
                continue
            qi, ai = header.index(question_column), header.index(answer_column)
            pos = el.start + len(lines[0]) + 1
            for n, line in enumerate(lines[1:], start=1):
                rows += 1
                cells = cell_spans(line)
                if len(cells) != len(header):
                    excluded["cells do not line up with the header"] += 1
                elif not all(e > s for s, e in (cells[qi], cells[ai])):
                    excluded["no question or no answer"] += 1
                else:
                    (q_start, q_end), (_, a_end) = cells[qi], cells[ai]
                    q = line[q_start:q_end]
                    found.append(FaqQuery(f"{path.stem}:{n}", path.name, q, reword(q), pos + q_start, pos + a_end))
                pos += len(line) + 1
    counts = Counter(_folded(f.question) for f in found)
    kept = [f for f in found if counts[_folded(f.question)] == 1]
    if len(kept) < len(found):
        excluded["question repeated in the tables"] = len(found) - len(kept)
    return FaqSet(tuple(files), tuple(kept), rows, dict(excluded))


def _folded(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().lower()
