"""Contract suite: every ChunkStore implementation must pass the same tests.

qdrant-edge (embedded default) and qdrant-client (server API; its `:memory:` local mode stands in for the server,
which cannot run on this machine).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator

import pytest

from app.adapters.edge_store import EdgeChunkStore
from app.adapters.embedders import HashEmbedder
from app.adapters.qdrant_store import QdrantServerChunkStore
from app.adapters.sparse import Bm25Encoder
from app.core.domain import Chunk, EncodedChunk, content_hash, stable_id
from app.core.filters import Filter, scope_filter

EMB = HashEmbedder(dim=64)
SPARSE = Bm25Encoder()

TEXTS = [
    "The refund policy allows returns within 30 days of purchase.",
    "Employees accrue 25 days of paid vacation per year.",
    "The office is closed on public holidays and weekends.",
    "Security badges must be worn at all times inside the building.",
    "Expense reports are due by the fifth business day of each month.",
    "Remote work requires manager approval and a secure VPN connection.",
]


def make_chunks(
    tenant: str = "t1",
    collection: str = "c1",
    doc: str = "doc-a",
    texts: list[str] = TEXTS,
    doc_hash: str = "v1",
    file_type: str = "txt",
    acl: tuple[str, ...] = (),
    meta: dict | None = None,
) -> list[EncodedChunk]:
    chunks = [
        Chunk(
            id=stable_id(tenant, doc, doc_hash, str(i)),
            document_id=doc,
            tenant=tenant,
            collection=collection,
            external_id=doc + ".txt",
            text=t,
            position=i,
            start=i * 100,
            end=i * 100 + len(t),
            content_hash=content_hash(t),
            doc_hash=doc_hash,
            file_type=file_type,
            page=1 + i // 3,
            section_path=("Policies", f"Part {i}"),
            created_at=1_700_000_000.0 + i * 86400,
            acl_groups=acl,
            metadata=meta or {"year": 2020 + i, "tags": ["hr"] if i % 2 else ["finance"]},
        )
        for i, t in enumerate(texts)
    ]
    dense = EMB.embed_batch([c.text for c in chunks])
    sparse = SPARSE.encode_documents([c.text for c in chunks])
    return [EncodedChunk(c, tuple(d), s) for c, d, s in zip(chunks, dense, sparse, strict=True)]


@pytest.fixture(params=["edge", "client"])
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator:
    if request.param == "edge":
        s = EdgeChunkStore(tmp_path / "edge", dim=EMB.dim, extra_vectors={"dense_use": 32})
    else:
        name = f"test_{uuid.uuid4().hex[:8]}"
        s = QdrantServerChunkStore.from_url(":memory:", name, dim=EMB.dim, extra_vectors={"dense_use": 32})
    s.ensure_ready()
    yield s
    s.close()


def search(store, text: str, flt: Filter, limit: int = 5):
    return store.hybrid_search(EMB.embed_query(text), SPARSE.encode_query(text), flt, limit, 50)


class TestChunkStoreContract:
    def test_upsert_and_hybrid_search_finds_the_matching_chunk(self, store) -> None:
        store.upsert(make_chunks())
        hits = search(store, "how many vacation days per year", scope_filter("t1", "c1", None, None))
        assert hits and "vacation" in hits[0].chunk.text
        assert hits[0].dense_score is not None and -1.0 <= hits[0].dense_score <= 1.0
        assert hits[0].sparse_score is not None and hits[0].sparse_score > 0  # BM25 matched "vacation"
        c = hits[0].chunk
        assert c.section_path == ("Policies", "Part 1") and c.page == 1 and c.metadata["year"] == 2021

    def test_upsert_is_idempotent(self, store) -> None:
        store.upsert(make_chunks())
        store.upsert(make_chunks())
        assert store.count(scope_filter("t1", "c1", None, None)) == len(TEXTS)

    def test_tenant_and_collection_scope(self, store) -> None:
        store.upsert(make_chunks(tenant="t1"))
        store.upsert(make_chunks(tenant="t2", doc="doc-b"))
        store.upsert(make_chunks(tenant="t1", collection="c2", doc="doc-c"))
        for h in search(store, "refund policy", scope_filter("t2", "c1", None, None), 20):
            assert h.chunk.tenant == "t2" and h.chunk.collection == "c1"
        assert store.count(scope_filter("t1", None, None, None)) == 2 * len(TEXTS)

    def test_acl_groups(self, store) -> None:
        store.upsert(make_chunks(doc="public"))
        store.upsert(make_chunks(doc="secret", acl=("hr",)))
        seen = {h.chunk.document_id for h in search(store, "vacation", scope_filter("t1", "c1", ("sales",), None), 20)}
        assert seen == {"public"}
        seen = {h.chunk.document_id for h in search(store, "vacation", scope_filter("t1", "c1", ("hr",), None), 20)}
        assert seen == {"public", "secret"}

    def test_metadata_filters_inside_the_search(self, store) -> None:
        store.upsert(make_chunks())
        user = Filter.model_validate(
            {"must": [{"key": "meta.year", "range": {"gte": 2023}}, {"key": "meta.tags", "match": {"any": ["hr"]}}]}
        )
        hits = search(store, "refund policy", scope_filter("t1", "c1", None, user), 20)
        assert hits and all(h.chunk.metadata["year"] >= 2023 and "hr" in h.chunk.metadata["tags"] for h in hits)
        dated = Filter.model_validate({"must": [{"key": "created_at", "range": {"lt": "2023-11-16"}}]})
        assert {h.chunk.position for h in search(store, "policy", scope_filter("t1", "c1", None, dated), 20)} == {0, 1}
        not_pdf = Filter.model_validate({"must_not": [{"key": "file_type", "match": {"value": "txt"}}]})
        assert search(store, "policy", scope_filter("t1", "c1", None, not_pdf), 20) == []

    def test_replace_document_version_and_delete(self, store) -> None:
        store.upsert(make_chunks(doc_hash="v1"))
        store.upsert(make_chunks(doc_hash="v2", texts=TEXTS[:2]))
        store.delete_document("t1", "doc-a", keep_doc_hash="v2")
        chunks = store.list_chunks(scope_filter("t1", "c1", None, None))
        assert [c.position for c in chunks] == [0, 1] and {c.doc_hash for c in chunks} == {"v2"}
        store.delete_document("t1", "doc-a")
        assert store.count(scope_filter("t1", "c1", None, None)) == 0

    def test_delete_collection_leaves_others(self, store) -> None:
        store.upsert(make_chunks(collection="c1"))
        store.upsert(make_chunks(collection="c2", doc="doc-b"))
        store.delete_collection("t1", "c1")
        assert store.count(scope_filter("t1", "c1", None, None)) == 0
        assert store.count(scope_filter("t1", "c2", None, None)) == len(TEXTS)

    def test_single_legs(self, store) -> None:
        store.upsert(make_chunks())
        flt = scope_filter("t1", "c1", None, None)
        assert "vacation" in store.dense_search(EMB.embed_query("paid vacation days"), flt, 3)[0].chunk.text
        assert "VPN" in store.sparse_search(SPARSE.encode_query("vpn connection"), flt, 3)[0].chunk.text
        assert store.sparse_search(SPARSE.encode_query(""), flt, 3) == []

    def test_list_chunks_pages_in_document_order(self, store) -> None:
        store.upsert(make_chunks())
        flt = scope_filter("t1", "c1", None, None)
        assert [c.position for c in store.list_chunks(flt, limit=2, offset=2)] == [2, 3]

    def test_random_filters_are_never_violated(self, store) -> None:
        rng = random.Random(7)
        for d in range(4):
            store.upsert(make_chunks(doc=f"d{d}", file_type=rng.choice(["pdf", "txt", "md"]), doc_hash=f"h{d}"))
        for _ in range(25):
            year = rng.randint(2019, 2026)
            ftype = rng.choice(["pdf", "txt", "md"])
            user = Filter.model_validate(
                {
                    "must": [{"key": "meta.year", "range": {"lte": year}}],
                    "must_not": [{"key": "file_type", "match": {"value": ftype}}],
                }
            )
            for h in search(store, rng.choice(TEXTS), scope_filter("t1", "c1", None, user), 30):
                assert h.chunk.metadata["year"] <= year and h.chunk.file_type != ftype


def test_edge_store_persists_across_reopen(tmp_path) -> None:
    s = EdgeChunkStore(tmp_path / "edge", dim=EMB.dim)
    s.upsert(make_chunks())
    s.close()
    s2 = EdgeChunkStore(tmp_path / "edge", dim=EMB.dim)
    assert s2.count(scope_filter("t1", "c1", None, None)) == len(TEXTS)
    s2.close()


def test_invalid_construction(tmp_path) -> None:
    with pytest.raises(ValueError):
        EdgeChunkStore(tmp_path, dim=0)
    with pytest.raises(ValueError):
        QdrantServerChunkStore.from_url(":memory:", "", dim=8)


def test_delete_stale_keeps_current_versions_only(store) -> None:
    store.upsert(make_chunks(doc="a", doc_hash="a1"))
    store.upsert(make_chunks(doc="a", doc_hash="a2", texts=TEXTS[:1]))
    store.upsert(make_chunks(doc="b", doc_hash="b1", texts=TEXTS[:2]))
    store.upsert(make_chunks(doc="c", doc_hash="c1", texts=TEXTS[:3]))
    store.delete_stale("t1", {"a": "a2", "b": "b1"})
    got = {(c.document_id, c.doc_hash) for c in store.list_chunks(scope_filter("t1", "c1", None, None))}
    assert got == {("a", "a2"), ("b", "b1"), ("c", "c1")}


def test_weighted_rrf_and_dbsf(store) -> None:
    store.upsert(make_chunks())
    flt = scope_filter("t1", "c1", None, None)
    q = "secure VPN connection for remote work"
    for kwargs in ({"weights": (1.0, 3.0)}, {"weights": (3.0, 1.0)}, {"fusion": "dbsf"}):
        hits = store.hybrid_search(EMB.embed_query(q), SPARSE.encode_query(q), flt, 3, 50, **kwargs)
        assert hits and "VPN" in hits[0].chunk.text
    with pytest.raises(ValueError, match="rrf"):
        store.hybrid_search(EMB.embed_query(q), SPARSE.encode_query(q), flt, 3, 50, fusion="max")


def test_quarantine_flag_round_trips(store) -> None:
    from dataclasses import replace

    items = make_chunks(texts=TEXTS[:1])
    items = [
        type(items[0])(
            replace(items[0].chunk, quarantine="asks the model to ignore its instructions"),
            items[0].dense,
            items[0].sparse,
        )
    ]
    store.upsert(items)
    (chunk,) = store.list_chunks(scope_filter("t1", "c1", None, None))
    assert chunk.quarantine == "asks the model to ignore its instructions"


def test_collections_can_use_another_named_dense_vector(store) -> None:
    """A collection embedded by a second model (e.g. multilingual) lives under its own vector name."""
    other = HashEmbedder(dim=32, vector_name="dense_use")
    base = make_chunks(collection="zh", doc="zh-doc")
    items = [type(it)(it.chunk, tuple(other.embed_query(it.chunk.text)), it.sparse, "dense_use") for it in base]
    store.upsert(items)
    store.upsert(make_chunks(collection="en"))
    flt = scope_filter("t1", "zh", None, None)
    q = "paid vacation days per year"
    hits = store.hybrid_search(other.embed_query(q), SPARSE.encode_query(q), flt, 3, 50, using="dense_use")
    assert hits and "vacation" in hits[0].chunk.text and hits[0].dense_score is not None
    assert all(h.chunk.collection == "zh" for h in hits)
    assert "vacation" in store.dense_search(other.embed_query(q), flt, 1, using="dense_use")[0].chunk.text


def test_edge_store_adds_a_new_named_vector_to_an_old_shard(tmp_path) -> None:
    s = EdgeChunkStore(tmp_path / "edge", dim=EMB.dim)
    s.upsert(make_chunks())
    s.close()
    s2 = EdgeChunkStore(tmp_path / "edge", dim=EMB.dim, extra_vectors={"dense_use": 32})
    other = HashEmbedder(dim=32, vector_name="dense_use")
    it = make_chunks(collection="zh", doc="z", texts=TEXTS[:1])[0]
    s2.upsert([type(it)(it.chunk, tuple(other.embed_query(it.chunk.text)), it.sparse, "dense_use")])
    assert s2.count(scope_filter("t1", None, None, None)) == len(TEXTS) + 1
    s2.close()


def test_edge_store_indexes_user_metadata_as_it_arrives(tmp_path) -> None:
    s = EdgeChunkStore(tmp_path / "edge", dim=EMB.dim)
    s.upsert(make_chunks(meta={"year": 2021, "tags": ["hr"], "draft": False}))
    schema = s.shard.info().payload_schema
    assert {"meta.year", "meta.tags", "meta.draft", "tenant", "collection"} <= set(schema)
    s.close()


def test_optimize_keeps_every_point_and_search_working(store) -> None:
    store.upsert(make_chunks())
    store.optimize()
    flt = scope_filter("t1", "c1", None, None)
    assert store.count(flt) == len(TEXTS)
    assert "vacation" in search(store, "how many vacation days per year", flt)[0].chunk.text


def test_edge_store_optimizes_in_the_background_after_enough_writes(tmp_path) -> None:
    s = EdgeChunkStore(tmp_path / "edge", dim=EMB.dim, optimize_after=3)
    s.upsert(make_chunks())
    s.flush()  # 6 points written ≥ 3: an optimisation starts in the background
    assert s._optimizer is not None
    s._optimizer.join(timeout=60)
    assert s._written == 0 and s.count(scope_filter("t1", "c1", None, None)) == len(TEXTS)
    s.close()
