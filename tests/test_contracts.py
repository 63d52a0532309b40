"""Streamlined contracts (UC14) on a real registry: templates with validated placeholders and versions,
generated HTML (escaped) and PDF (fpdf2) documents, regeneration keeping old versions, acceptance bound
to the version's content hash, and who may read, accept and regenerate."""

from __future__ import annotations

import hashlib

import pytest

from sfe.registry import contracts, db, models
from sfe.registry import prequalification as pq
from sfe.registry.access import AccessDenied, NotFound
from sfe.registry.validation import Conflict, InvalidInput
from sfe.rules import catalogue

from .prequal_helpers import (
    TEMPLATE_BODY,
    TERMS,
    extras,
    group_ref,
    pdf_text,
    save_group_dossier,
    save_template,
)


def _prequalified_contract(world, product_id: str = "ukpn_secure", **extra) -> contracts.ContractView:
    """A prequalified application of the Portfolio group with its generated contract."""
    save_group_dossier(world)
    [outcome] = pq.submit_applications(world["fsp"], group_ref(world), {product_id: extras(**extra)})
    assert outcome.submitted, outcome.explanation
    with db.session() as s:
        pq.start_review(s, world["ukpn"], outcome.application.application_id)
        pq.decide(s, world["ukpn"], outcome.application.application_id, pq.PREQUALIFIED, None)
        return contracts.contract_for_application(s, world["fsp"], outcome.application.application_id)


# -- templates -------------------------------------------------------------------------------------
def test_template_placeholders_are_checked_on_save_naming_the_unknown_one(world):
    with pytest.raises(InvalidInput) as refused:
        save_template(
            world, "ukpn_secure", body="Between {{fsp_name}} and {{so_nmae}}.\n\nStart {{start_date}"
        )
    messages = [str(e) for e in refused.value.errors]
    assert any("line 1: unknown placeholder {{so_nmae}}" in m for m in messages)
    assert any("line 3" in m and "must pair up" in m for m in messages)
    with pytest.raises(InvalidInput, match="is not a placeholder name"):
        save_template(world, "ukpn_secure", body="{{fsp_name}} {{ Fsp Name }}")
    with pytest.raises(InvalidInput, match="must name the provider"):
        save_template(world, "ukpn_secure", body="A contract for {{product_name}}.")
    with pytest.raises(InvalidInput, match=r"title: line 1: unknown placeholder \{\{nope\}\}"):
        save_template(world, "ukpn_secure", title="Agreement {{nope}}")
    with pytest.raises(InvalidInput, match=r"standard_terms\[1\].url"), db.session() as s:
        contracts.save_template(
            s,
            world["ukpn"],
            "ukpn_secure",
            "T",
            "{{fsp_name}}",
            [{"reference": "X", "url": "javascript:alert(1)"}],
        )
    # the editor's one-line-per-reference text round-trips; a line with a fourth part is refused
    assert contracts.parse_terms_text(contracts.terms_text(TERMS)) == TERMS
    with (
        pytest.raises(InvalidInput, match=r"standard_terms\[2\]: has more than three parts"),
        db.session() as s,
    ):
        contracts.save_template(
            s,
            world["ukpn"],
            "ukpn_secure",
            "T",
            "{{fsp_name}}",
            contracts.parse_terms_text("A\nB | t | https://x | y"),
        )
    with db.session() as s:
        assert contracts.get_template(s, world["ukpn"], "ukpn_secure") is None


def test_templates_are_versioned_and_written_only_by_the_products_operator(world):
    first = save_template(world, "ukpn_secure").template
    unchanged = save_template(world, "ukpn_secure").template
    second = save_template(
        world, "ukpn_secure", body=TEMPLATE_BODY + "\nGoverned by the laws of England and Wales.\n"
    )
    assert (first.version, unchanged.version, second.template.version) == (1, 1, 2)
    assert first.placeholders[:2] == ["product_name", "so_name"] and first.standard_terms == TERMS
    with db.session() as s:
        versions = contracts.template_versions(s, world["fsp"], "ukpn_secure")  # providers may read it
        assert [v.version for v in versions] == [2, 1] and not versions[0].editable
        for who in ("nged", "neso"):
            with pytest.raises(AccessDenied, match="written by its operator"):
                contracts.save_template(s, world[who], "ukpn_secure", "T", "{{fsp_name}}")
        with pytest.raises(AccessDenied):
            contracts.save_template(s, world["fsp"], "ukpn_secure", "T", "{{fsp_name}}")
        assert "ukpn_secure" in {p.product_id for p in contracts.template_products(s, world["ukpn"])}
        assert "ukpn_secure" not in {p.product_id for p in contracts.template_products(s, world["nged"])}


def test_the_default_template_is_valid_for_every_kind_of_product(world):
    with db.session() as s:
        products = catalogue.rule_products(s)
    for product in products:
        default = contracts.default_template(product)
        used = contracts.placeholders_in(default["body"])
        assert "fsp_name" in used and "standard_terms" in used
    with db.session() as s:
        dc = contracts.default_template(catalogue.product_info(s, "neso_eac_dch"))
        dno = contracts.default_template(catalogue.product_info(s, "ukpn_secure"))
    assert dc["standard_terms"][0]["reference"].startswith("NESO")
    assert dno["standard_terms"][0]["reference"] == "ENA Flexibility Services Standard Agreement"


# -- documents -------------------------------------------------------------------------------------
def test_the_contract_pdf_and_html_carry_the_values_and_the_html_hash(world):
    save_template(world, "ukpn_secure")
    contract = _prequalified_contract(world)
    with db.session() as s:
        pdf = contracts.download(s, world["fsp"], contract.contract_id, "pdf")
        page = contracts.download(s, world["ukpn"], contract.contract_id, "html")
    assert pdf.content.startswith(b"%PDF") and pdf.media_type == "application/pdf"
    assert pdf.filename == f"{contract.reference}-v1.pdf"
    text = pdf_text(pdf.content)
    assert "Acme Flex" in text and "UK Power Networks" in text
    assert "REG-000001 Ealing battery" in text and "2 MW" in text
    assert contract.current.content_sha256 in text  # the footer binds the PDF to the HTML version
    assert hashlib.sha256(page.content).hexdigest() == contract.current.content_sha256
    assert hashlib.sha256(pdf.content).hexdigest() == contract.current.pdf_sha256
    html = page.content.decode()
    assert "<strong>Acme Flex</strong>" in html and "£12.50 per MW per hour (as offered)" in html
    assert "ENA Flexibility Services Standard Agreement, clause 4 (Service Delivery)" in html


def test_injected_text_is_escaped_in_html_and_cannot_change_the_markup(world):
    with db.session() as s:
        org = s.get(models.Organisation, world["fsp"].organisation_id)
        org.name = 'Acme <script>alert("x")</script> & **Sons**'
        group = s.get(models.AssetGroup, world.group_id)
        group.name = "<img src=x onerror=alert(1)>"
    body = (
        "# Parties <em>not markup</em>\n"
        "Provider: **{{fsp_name}}**; assets of {{subject_name}}.\n\n"
        "- a <b>template</b> item & more\n"
    )
    save_template(world, "ukpn_secure", body=body)
    contract = _prequalified_contract(world)
    with db.session() as s:
        html = contracts.download(s, world["fsp"], contract.contract_id, "html").content.decode()
        pdf = contracts.download(s, world["fsp"], contract.contract_id, "pdf").content
    assert "<script>" not in html and "<img" not in html and "<em>" not in html and "<b>" not in html
    assert "Acme &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; **Sons**" in html
    assert "<strong>Acme &lt;script&gt;" in html  # the template's bold, the value's asterisks kept as text
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<li>a &lt;b&gt;template&lt;/b&gt; item &amp; more</li>" in html
    assert 'Acme <script>alert("x")</script> & **Sons**' in pdf_text(pdf)


# -- versions and acceptance -----------------------------------------------------------------------
def test_acceptance_binds_to_the_version_hash_and_regeneration_keeps_old_versions(world):
    save_template(world, "ukpn_secure")
    contract = _prequalified_contract(world)
    v1 = contract.current
    with db.session() as s:
        with pytest.raises(Conflict, match="content hash given"):
            contracts.accept(s, world["fsp"], contract.contract_id, 1, "0" * 64)
        accepted = contracts.accept(s, world["fsp"], contract.contract_id, 1, v1.content_sha256.upper())
        with pytest.raises(Conflict, match="already accepted by the provider"):
            contracts.accept(s, world["fsp"], contract.contract_id, 1, v1.content_sha256)
        with pytest.raises(Conflict, match="up to date"):
            contracts.regenerate(s, world["ukpn"], contract.contract_id)
    assert accepted.status == contracts.AWAITING
    assert accepted.current.accepted_by("fsp").by == world["fsp"].display_name

    # the SO changes the template: the contract is outdated until regenerated, as version 2
    save_template(world, "ukpn_secure", body=TEMPLATE_BODY + "\nNotice period: 30 days.\n")
    with db.session() as s:
        assert [c.reference for c in contracts.outdated_contracts(s, world["ukpn"], "ukpn_secure")] == [
            contract.reference
        ]
        with pytest.raises(AccessDenied):
            contracts.regenerate(s, world["fsp"], contract.contract_id)
        assert contracts.regenerate_outdated(s, world["ukpn"], "ukpn_secure") == [contract.reference]
        regenerated = contracts.get_contract(s, world["ukpn"], contract.contract_id)
        old_html = contracts.download(s, world["ukpn"], contract.contract_id, "html", version=1).content
        new_html = contracts.download(s, world["ukpn"], contract.contract_id, "html").content
    assert [v.version for v in regenerated.versions] == [2, 1]
    assert regenerated.versions[1].content_sha256 == v1.content_sha256  # the old version is kept as it was
    assert regenerated.current.accepted_by("fsp") is None and regenerated.versions[1].accepted_by("fsp")
    assert b"Notice period" in new_html and b"Notice period" not in old_html
    assert not regenerated.template_outdated

    with db.session() as s:
        with pytest.raises(Conflict, match="not the current version"):
            contracts.accept(s, world["ukpn"], contract.contract_id, 1, v1.content_sha256)
        v2 = regenerated.current.content_sha256
        contracts.accept(s, world["ukpn"], contract.contract_id, 2, v2)
        executed = contracts.accept(s, world["fsp"], contract.contract_id, 2, v2)
    assert executed.status == contracts.EXECUTED and executed.current.executed_at is not None
    assert {a.party: a.content_sha256 for a in executed.current.acceptances} == {"so": v2, "fsp": v2}

    # a later amendment leaves the executed version on record
    with db.session() as s:
        group = s.get(models.AssetGroup, world.group_id)
        group.name = "Portfolio West"
    with db.session() as s:
        amended = contracts.regenerate(s, world["ukpn"], contract.contract_id)
    assert amended.status == contracts.AMENDMENT_PENDING and amended.versions[1].executed_at is not None


def test_only_the_parties_read_and_accept_a_contract(world):
    save_template(world, "ukpn_secure")
    contract = _prequalified_contract(world)
    sha = contract.current.content_sha256
    with db.session() as s:
        for who in ("other_fsp", "nged", "neso"):
            assert contracts.list_contracts(s, world[who]) == []
            with pytest.raises(NotFound):
                contracts.download(s, world[who], contract.contract_id, "pdf")
            with pytest.raises(NotFound):
                contracts.accept(s, world[who], contract.contract_id, 1, sha)
        with pytest.raises(AccessDenied):
            contracts.list_contracts(s, world["investor"])
        # admins read every contract but are no party to it
        assert contracts.download(s, world["admin"], contract.contract_id, "html").content
        with pytest.raises(AccessDenied, match="Only the provider and the system operator"):
            contracts.accept(s, world["admin"], contract.contract_id, 1, sha)
        with pytest.raises(InvalidInput, match="html or pdf"):
            contracts.download(s, world["fsp"], contract.contract_id, "docx")
        with pytest.raises(NotFound, match="no version 7"):
            contracts.download(s, world["fsp"], contract.contract_id, "pdf", version=7)
