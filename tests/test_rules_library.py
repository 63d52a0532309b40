"""The market rules library (UC7): ranked search written in the project, versions, "what changed",
who may add what, and the seeded reference documents."""

from __future__ import annotations

import pytest

from sfe.registry import audit, db
from sfe.registry.access import AccessDenied
from sfe.rules import library, library_seed, search
from sfe.rules.kinds import RuleError

from .rules_fixtures import build_world

FILLER = (
    "Providers register units, agree the contract, submit bids in each window and receive payments after "
    "settlement; metering data is checked against the baseline and invoices follow monthly. "
)


@pytest.fixture
def world(lake_paths):
    db.dispose_all()
    yield build_world()
    db.dispose_all()


def _doc(s, title: str, summary: str, body: str, market_id: str | None = "neso_eac", **kw) -> int:
    return library.create_document(
        s,
        None,
        market_id=market_id,
        doc_type="service_terms",
        publisher="Test publisher",
        title=title,
        summary=summary,
        body=body,
        **kw,
    ).document_id


# -- search ----------------------------------------------------------------------------------------
def test_search_finds_a_document_by_words_from_its_body(world):
    with db.session() as s:
        assert library_seed.seed_library(s) == len(library_seed.DOCUMENTS)
        results = library.search_documents(s, "headroom footroom")
        assert results[0].document.slug == "neso-balancing-reserve"
        assert results[0].matched_terms == ("headroom", "footroom")
        # Words that appear only in Grid Code BC2's body.
        assert library.search_documents(s, "notice to deviate from zero")[0].document.slug == "grid-code-bc2"
        # Stemming-lite: "activations" meets "activation" and "activated"; "aggregating" meets "aggregated".
        slugs = [r.document.slug for r in library.search_documents(s, "aggregating activations GSP")]
        assert slugs[0] == "neso-quick-reserve"
        assert library.search_documents(s, "") == [] and library.search_documents(s, "the of and") == []
        assert library.search_documents(s, "zzzunknownword") == []


def test_ranking_prefers_title_then_summary_then_body_and_rewards_phrases(world):
    with db.session() as s:
        in_title = _doc(s, "Stacking rules for batteries", "How services combine.", FILLER * 3)
        in_summary = _doc(
            s, "Service combinations", "Stacking of response and reserve is limited.", FILLER * 3
        )
        in_long_body = _doc(
            s, "Provider handbook", "Everything a provider does.", FILLER * 6 + "Stacking is covered. "
        )
        unrelated = _doc(s, "Metering guide", "Meters and data.", FILLER * 2)
        order = [r.document.document_id for r in library.search_documents(s, "stacking")]
        assert order == [in_title, in_summary, in_long_body]
        assert unrelated not in order

        # Both documents contain "gate" and "closure"; the one where they form the phrase ranks first.
        apart = _doc(s, "Imbalance notes", "The gate is open. Closure of positions happens later.", FILLER)
        phrase = _doc(s, "Balancing timeline", "Positions are final at gate closure, one hour ahead.", FILLER)
        results = library.search_documents(s, "gate closure")
        assert [r.document.document_id for r in results[:2]] == [phrase, apart]
        assert results[0].phrase_in == ("summary",) and results[1].phrase_in == ()
        # A quoted phrase must appear.
        assert [r.document.document_id for r in library.search_documents(s, '"gate closure"')] == [phrase]

        # A rare word outweighs a common one (idf): "metering" is in every filler body.
        assert library.search_documents(s, "metering handbook")[0].document.document_id == in_long_body

        # Within one market only.
        ukpn = _doc(s, "Local stacking", "Stacking in local markets.", FILLER, market_id="ukpn_flex")
        assert [
            r.document.document_id for r in library.search_documents(s, "stacking", market_id="ukpn_flex")
        ] == [ukpn]


def test_results_carry_highlighted_passages(world):
    with db.session() as s:
        _doc(
            s,
            "Stacking rules",
            "When services may be stacked.",
            FILLER * 4 + "Stacked services share capacity. " + FILLER,
        )
        [result] = library.search_documents(s, "stacking")
        matched = [text for text, is_match in result.snippet if is_match]
        assert matched and all(search.stem(m) == "stack" for m in matched)
        assert "".join(text for text, _ in result.title_segments) == "Stacking rules"
        assert ("Stacking", True) in result.title_segments


def test_stemming_and_tokens():
    assert search.stem("activations") == search.stem("activated") == search.stem("activate")
    assert search.stem("dispatches") == search.stem("dispatched") == "dispatch"
    assert search.stem("batteries") == search.stem("battery")
    assert search.stem("ENA's") == "ena" and search.stem("DC") == "dc" and search.stem("1.5") == "1.5"
    assert search.tokens("The rules of the Grid Code") == ["rule", "grid", "code"]


# -- versions and what changed ---------------------------------------------------------------------
def test_versions_and_what_changed(world):
    with db.session() as s:
        library_seed.seed_library(s)
        dc = library.get_document(s, "neso-dynamic-containment")
        assert dc.version == dc.current_version == 2
        assert [v.version for v in library.versions(s, dc.document_id)] == [2, 1]
        change = library.diff(s, dc.document_id, 1, 2)
        assert change.changed_fields == ["effective_date", "summary", "body"]
        body = next(c for c in change.changes if c.field == "body")
        assert "-Procurement: daily, day-ahead, for each of the six four-hour EFA blocks" in body.diff
        assert (
            "+Procurement: daily, day-ahead, for each EFA block, in NESO's Enduring Auction Capability"
            in body.diff
        )
        assert body.words_added > 0 and body.words_removed > 0
        # Old versions stay readable.
        assert "EPEX SPOT" in library.get_document(s, dc.document_id, 1).summary
        assert "EPEX SPOT" not in library.get_document(s, dc.document_id).summary


def test_adding_a_version_is_checked_and_audited(world):
    with db.session() as s:
        doc_id = _doc(s, "Local terms", "Summary.", "Body one.", market_id="ukpn_flex")
    with db.session() as s:
        current = library.get_document(s, doc_id)
        kw = {"title": current.title, "summary": current.summary, "body": "Body two.", "source_url": None}
        with pytest.raises(RuleError, match="change_note: say what changed"):
            library.add_version(s, world["ukpn"], doc_id, **kw)
        with pytest.raises(RuleError, match="nothing changed"):
            library.add_version(s, world["ukpn"], doc_id, **{**kw, "body": "Body one."}, change_note="x")
        with pytest.raises(RuleError, match="effective_date: '31/12/2025' is not a date"):
            library.add_version(s, world["ukpn"], doc_id, **kw, effective_date="31/12/2025", change_note="x")
        with pytest.raises(AccessDenied):
            library.add_version(s, world["fsp"], doc_id, **kw, change_note="x")
        with pytest.raises(AccessDenied, match="not operated by your organisation"):
            library.add_version(s, world["neso"], doc_id, **kw, change_note="x")
        view = library.add_version(
            s, world["ukpn"], doc_id, **kw, effective_date="2026-04-01", change_note="New body"
        )
        assert (view.version, view.changed_by_id, str(view.effective_date)) == (
            2,
            world["ukpn"].user_id,
            "2026-04-01",
        )
        events = audit.history(s, "library_document", doc_id)
        assert [e.action for e in events] == ["library.document_created", "library.version_added"]
        assert events[1].actor_user_id == world["ukpn"].user_id and events[1].details["note"] == "New body"


def test_who_may_create_documents(world):
    fields = {"doc_type": "guidance", "publisher": "UKPN", "title": "A guide", "summary": "S.", "body": "B."}
    with db.session() as s:
        library.create_document(s, world["ukpn"], market_id="ukpn_flex", **fields)
        with pytest.raises(AccessDenied, match="SFE administrators"):
            library.create_document(s, world["ukpn"], market_id=None, **{**fields, "title": "GB guide"})
        library.create_document(s, world["admin"], market_id=None, **{**fields, "title": "GB guide"})
        with pytest.raises(RuleError, match="slug: a document 'a-guide' already exists"):
            library.create_document(s, world["admin"], market_id="ukpn_flex", **fields)
        with pytest.raises(RuleError, match="market_id: unknown market 'atlantis'.*doc_type: must be one of"):
            library.create_document(s, world["admin"], market_id="atlantis", **{**fields, "doc_type": "poem"})
        assert library.can_edit(world["ukpn"], "ukpn_flex") and not library.can_edit(
            world["ukpn"], "neso_eac"
        )
        assert not library.can_edit(world["investor"], "ukpn_flex")


def test_seeded_documents_are_marked_as_summaries_with_sources(world):
    with db.session() as s:
        library_seed.seed_library(s)
        assert library_seed.seed_library(s) == 0  # idempotent
        docs = library.list_documents(s)
        assert len(docs) == len(library_seed.DOCUMENTS)
        for doc in docs:
            assert doc.body.endswith(library.SUMMARY_NOTE)
            assert doc.source_url and doc.source_url.startswith("https://")
