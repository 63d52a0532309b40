"""The reference set of the market rules library: real, public GB rules and regulation documents,
each described by a summary SFE wrote (never the documents' own text) with a link to the source.

Where a document changed in a way that matters to providers (e.g. Dynamic Containment moving to the
Enduring Auction Capability), the earlier state is kept as version 1 so "what changed" has something
real to show. Seeding is idempotent: a document already in the library (by slug) is left as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from sfe.rules import library
from sfe.rules.library import SUMMARY_NOTE

NESO = "National Energy System Operator (NESO)"
NESO_SERVICES = "https://www.neso.energy/industry-information/balancing-services"
DYNAMIC = f"{NESO_SERVICES}/frequency-response-services/new-dynamic-services-dcdmdr"
RESERVE = f"{NESO_SERVICES}/reserve-services"
ENA = "Energy Networks Association (ENA) Open Networks"
ENA_FLEX = "https://www.energynetworks.org/industry/flexibility-services"
BSC_GUIDES = "https://bscdocs.elexon.co.uk/simple-guides"
GRID_CODE = "https://www.neso.energy/industry-information/codes/grid-code"


@dataclass(frozen=True)
class Version:
    title: str
    summary: str
    body: str
    effective_date: date | None
    source_url: str
    change_note: str


@dataclass(frozen=True)
class SeedDocument:
    slug: str
    market_id: str | None
    doc_type: str
    publisher: str
    versions: tuple[Version, ...]
    product_id: str | None = None


def _body(*paragraphs: str) -> str:
    return "\n\n".join([*paragraphs, SUMMARY_NOTE])


DOCUMENTS: tuple[SeedDocument, ...] = (
    SeedDocument(
        "neso-dynamic-containment",
        "neso_eac",
        "service_terms",
        NESO,
        (
            Version(
                "Dynamic Containment: service terms and technical requirements",
                "Post-fault frequency response: units must start responding within half a second of a large "
                "frequency deviation and reach full delivery within one second. Procured day ahead in EFA "
                "blocks through a pay-as-clear auction run for NESO on the EPEX SPOT platform.",
                _body(
                    "Dynamic Containment (DC) is NESO's fastest post-fault frequency response service. It is "
                    "deployed after a significant frequency deviation, for example the sudden loss of a large "
                    "generator or interconnector, to contain frequency within statutory limits.",
                    "Technical requirements: response starts within 0.5 s of the frequency deviation and full "
                    "delivery is reached within 1 s. Delivery follows a response curve: a small linear band "
                    "around the deadband and full delivery at a 0.5 Hz deviation. Energy-limited providers "
                    "must be able to sustain full delivery for 15 minutes. Units are monitored at high "
                    "resolution (performance monitoring) and payments are reduced for under-delivery.",
                    "Participation: units of at least 1 MW (aggregation permitted) that pass NESO's "
                    "prequalification, including a test of the response. The service is technology neutral; "
                    "in practice batteries provide most of the volume. Separate low-frequency (DC Low) and "
                    "high-frequency (DC High) products are bought.",
                    "Procurement: daily, day-ahead, for each of the six four-hour EFA blocks, in a pay-as-clear "
                    "auction operated for NESO on the EPEX SPOT platform. Availability is paid in GBP per MW "
                    "per hour; there is no utilisation payment.",
                ),
                None,
                DYNAMIC,
                "Service terms as procured through the EPEX SPOT day-ahead auctions.",
            ),
            Version(
                "Dynamic Containment: service terms and technical requirements",
                "Post-fault frequency response: units must start responding within half a second of a large "
                "frequency deviation and reach full delivery within one second. Procured day ahead in EFA "
                "blocks through NESO's Enduring Auction Capability, co-optimised with Dynamic Moderation and "
                "Dynamic Regulation.",
                _body(
                    "Dynamic Containment (DC) is NESO's fastest post-fault frequency response service. It is "
                    "deployed after a significant frequency deviation, for example the sudden loss of a large "
                    "generator or interconnector, to contain frequency within statutory limits.",
                    "Technical requirements: response starts within 0.5 s of the frequency deviation and full "
                    "delivery is reached within 1 s. Delivery follows a response curve: a small linear band "
                    "around the deadband and full delivery at a 0.5 Hz deviation. Energy-limited providers "
                    "must be able to sustain full delivery for 15 minutes. Units are monitored at high "
                    "resolution (performance monitoring) and payments are reduced for under-delivery.",
                    "Participation: units of at least 1 MW (aggregation permitted) that pass NESO's "
                    "prequalification, including a test of the response. The service is technology neutral; "
                    "in practice batteries provide most of the volume. Separate low-frequency (DC Low) and "
                    "high-frequency (DC High) products are bought.",
                    "Procurement: daily, day-ahead, for each EFA block, in NESO's Enduring Auction Capability "
                    "(EAC), which clears Dynamic Containment, Dynamic Moderation and Dynamic Regulation "
                    "together (co-optimised) at a clearing price per product and block. Availability is paid "
                    "in GBP per MW per hour; there is no utilisation payment. A provider can offer the same "
                    "unit into several products and the auction respects its limits.",
                ),
                date(2023, 11, 2),
                DYNAMIC,
                "Procurement moved from the EPEX SPOT auctions to NESO's Enduring Auction Capability, "
                "co-optimised with DM and DR.",
            ),
        ),
    ),
    SeedDocument(
        "neso-dynamic-moderation-regulation",
        "neso_eac",
        "service_terms",
        NESO,
        (
            Version(
                "Dynamic Moderation and Dynamic Regulation: service terms and technical requirements",
                "Pre-fault frequency services. Dynamic Moderation: initiation within 0.5 s, full delivery within "
                "1 s, 30-minute duration. Dynamic Regulation: initiation within 2 s, full delivery within 10 s, "
                "60-minute duration. Both bought day ahead in the Enduring Auction Capability.",
                _body(
                    "Dynamic Moderation (DM) and Dynamic Regulation (DR) act before a fault: they keep frequency "
                    "close to 50 Hz during normal operation, DM for sudden imbalances in volatile periods and "
                    "DR continuously, as NESO's staple slower service.",
                    "Dynamic Moderation: response initiates within 0.5 s and reaches full delivery within 1 s; "
                    "energy-limited providers sustain full delivery for 30 minutes.",
                    "Dynamic Regulation: response initiates within 2 s and reaches full delivery within 10 s; "
                    "energy-limited providers sustain full delivery for 60 minutes. DR is the service most "
                    "often active, so state-of-charge management matters most for batteries.",
                    "Both have high and low products, accept units of at least 1 MW after prequalification, "
                    "and are bought day ahead per EFA block in the Enduring Auction Capability alongside "
                    "Dynamic Containment, paid for availability in GBP per MW per hour.",
                ),
                date(2023, 11, 2),
                DYNAMIC,
                "First version in the SFE library.",
            ),
        ),
    ),
    SeedDocument(
        "neso-enduring-auction-capability",
        "neso_eac",
        "procurement_rules",
        NESO,
        (
            Version(
                "Enduring Auction Capability (EAC): response and reserve auction rules",
                "How NESO's day-ahead auction for response and reserve works: sealed bids per unit, product and "
                "window, co-optimised clearing across products, pay-as-clear prices, and published results per "
                "unit.",
                _body(
                    "The Enduring Auction Capability (EAC) is the auction platform NESO uses to buy its dynamic "
                    "frequency response services (Dynamic Containment, Moderation and Regulation) and, as they "
                    "went live, its new reserve services. It replaced the EPEX SPOT auctions for response.",
                    "Providers submit sealed bids day ahead for each unit, product and delivery window (EFA "
                    "blocks for response, shorter windows for some reserve products): a volume in MW and an "
                    "availability price in GBP per MW per hour. Bids can be linked or made substitutable so "
                    "that one unit is not sold twice for the same capability.",
                    "The auction clears all products together, minimising NESO's cost of meeting each "
                    "requirement; every accepted bid is paid the clearing price of its product and window "
                    "(pay-as-clear). Results are published per product and window and per unit, which is "
                    "what SFE ingests as auction results and unit results.",
                    "Units must be prequalified and registered (for reserve, in NESO's Single Markets Platform) "
                    "before they can bid.",
                ),
                date(2023, 11, 2),
                f"{NESO_SERVICES}/frequency-response-services",
                "First version in the SFE library.",
            ),
        ),
    ),
    SeedDocument(
        "neso-quick-reserve",
        "neso_eac",
        "service_terms",
        NESO,
        (
            Version(
                "Quick Reserve: service terms",
                "Fast reserve to correct energy imbalances before they become faults: positive and negative "
                "products, at least 1 MW, full activation within one minute of instruction, short activations "
                "with rest periods, bought day ahead in the Enduring Auction Capability.",
                _body(
                    "Quick Reserve is NESO's fast-acting reserve for pre-fault disturbances: it restores the "
                    "balance between supply and demand quickly so that frequency stays close to 50 Hz. "
                    "Positive Quick Reserve (PQR) increases generation or reduces demand; Negative Quick Reserve "
                    "(NQR) does the opposite.",
                    "Technical requirements: a minimum of 1 MW; full activation within one minute of NESO's "
                    "instruction; activations are short, with a rest period before the unit can be instructed "
                    "again within the same window. Units may be aggregated within a GSP group.",
                    "Procurement: availability windows are bought in the Enduring Auction Capability; "
                    "providers are paid for availability and for each activation. The first phase went live "
                    "for Balancing Mechanism units; a later phase opened the service to non-BM units dispatched "
                    "through NESO's platform. Units must be registered and prequalified in the Single Markets "
                    "Platform.",
                ),
                date(2024, 11, 19),
                f"{RESERVE}/quick-reserve",
                "First version in the SFE library.",
            ),
        ),
    ),
    SeedDocument(
        "neso-slow-reserve",
        "neso_eac",
        "service_terms",
        NESO,
        (
            Version(
                "Slow Reserve: service terms",
                "Post-fault reserve that restores frequency to within 0.2 Hz of 50 Hz within 15 minutes of a "
                "loss: open to any technology able to change net demand or generation by at least 1 MW, full "
                "delivery within 15 minutes of instruction.",
                _body(
                    "Slow Reserve (SR) follows frequency response after a large loss of generation or demand: "
                    "it replaces the energy the response services delivered and brings frequency back within "
                    "operational limits (plus or minus 0.2 Hz) within 15 minutes of the event.",
                    "Positive Slow Reserve raises generation or lowers demand in full within 15 minutes of "
                    "instruction; Negative Slow Reserve lowers generation or raises demand. Any technology may "
                    "take part if it can deliver a net change of at least 1 MW.",
                    "Units register and prequalify in NESO's Single Markets Platform; availability is bought in "
                    "the Enduring Auction Capability and activations are paid separately. NESO published a "
                    "transition plan under which some positive SR windows were linked while the enduring "
                    "service was embedded.",
                ),
                None,
                f"{RESERVE}/slow-reserve",
                "First version in the SFE library.",
            ),
        ),
    ),
    SeedDocument(
        "neso-balancing-reserve",
        "neso_eac",
        "service_terms",
        NESO,
        (
            Version(
                "Balancing Reserve: service terms",
                "Day-ahead, firm procurement of regulating reserve (headroom and footroom) from Balancing "
                "Mechanism units of at least 1 MW, instructed through the Balancing Mechanism.",
                _body(
                    "Balancing Reserve (BR) lets NESO secure regulating reserve firmly at the day-ahead stage "
                    "instead of creating it in real time through optional bids and offers in the Balancing "
                    "Mechanism, which had become expensive in tight periods.",
                    "Eligibility: Balancing Mechanism units able to provide a contract capacity of at least "
                    "1 MW. Contracted units hold headroom (Positive Balancing Reserve) or footroom (Negative "
                    "Balancing Reserve) and show it to NESO through their BM data (maximum export and import "
                    "limits, physical notifications, stable limits).",
                    "Delivery is instructed through bid-offer acceptances in the Balancing Mechanism and paid "
                    "at the unit's BM prices; availability is paid at the day-ahead auction's clearing price. "
                    "NESO's rules say which frequency response services Balancing Reserve may be stacked with "
                    "on the same unit.",
                ),
                date(2024, 3, 12),
                f"{RESERVE}/balancing-reserve",
                "First version in the SFE library.",
            ),
        ),
    ),
    SeedDocument(
        "ena-flexibility-services-standard-agreement",
        None,
        "standard_agreement",
        ENA,
        (
            Version(
                "Standard Agreement for Flexibility Services (version 3.0)",
                "The common contract DNOs use to buy local flexibility: an overarching agreement signed once "
                "per provider, with call-off contracts per competition, standard service, dispatch, "
                "measurement, payment and termination terms.",
                _body(
                    "The ENA Open Networks programme publishes a standard agreement so that a flexibility "
                    "service provider signs the same terms with every distribution network operator, instead "
                    "of negotiating a different contract per DNO. Version 3.0 is the current version DNOs "
                    "reference in their contract registers.",
                    "Structure: an overarching agreement between the DNO and the provider, and a call-off "
                    "contract per accepted bid naming the zone, the product, the service windows, the "
                    "contracted capacity in MW and the availability and utilisation prices.",
                    "The schedules cover service delivery and dispatch instructions, baselining and the "
                    "measurement of delivered flexibility from meter data, performance thresholds and payment "
                    "reductions for under-delivery, invoicing, liability, data sharing and termination.",
                ),
                None,
                "https://www.energynetworks.org/publications/standard-agreement-for-flexibility-services-ver-3.0",
                "First version in the SFE library.",
            ),
        ),
    ),
    SeedDocument(
        "ena-standard-flexibility-products",
        None,
        "product_definition",
        ENA,
        (
            Version(
                "Common flexibility products: Peak Reduction, Scheduled Utilisation, Operational Utilisation",
                "The four standard local flexibility products DNOs buy, defined by when the service is "
                "scheduled and how it is paid: Peak Reduction, Scheduled Utilisation, Operational Utilisation, "
                "and Operational Utilisation with Scheduled Availability.",
                _body(
                    "To make local flexibility markets comparable, the ENA Open Networks programme defined "
                    "common products that every DNO names and describes the same way. They replaced the "
                    "earlier common names Sustain Peak Management, Sustain, Secure, Dynamic and Restore.",
                    "Peak Reduction: the provider reduces net demand during a pre-agreed window (e.g. the "
                    "winter evening peak) without a dispatch instruction; payment is per MWh delivered against "
                    "a baseline.",
                    "Scheduled Utilisation: the DNO schedules the service ahead of time (for example week ahead "
                    "or day ahead) and pays for the energy delivered (utilisation).",
                    "Operational Utilisation: the DNO calls the service close to real time, typically after a "
                    "network fault; payment is for utilisation. Operational Utilisation + Scheduled "
                    "Availability adds an availability payment for the scheduled windows in which the provider "
                    "must stand ready.",
                ),
                None,
                ENA_FLEX,
                "First version in the SFE library.",
            ),
        ),
    ),
    SeedDocument(
        "ukpn-flexibility-tenders",
        "ukpn_flex",
        "procurement_rules",
        "UK Power Networks DSO",
        (
            Version(
                "UK Power Networks: flexibility tenders and participation",
                "How UK Power Networks' DSO buys flexibility in London, the South East and the East of England: "
                "long-term tenders twice a year plus shorter-term markets, standard products, and participation "
                "from 10 kW per location.",
                _body(
                    "UK Power Networks' DSO pays flexibility providers to manage its distribution networks in "
                    "London, the South East and the East of England (licence areas LPN, SPN and EPN), to "
                    "defer reinforcement, manage uncertainty and connect customers sooner.",
                    "Participation: assets connected in a zone where UK Power Networks has a requirement, from "
                    "10 kW of flexible capacity per location; generators, batteries, EV charging, heat pumps "
                    "and demand turn-down all qualify, as do energy efficiency providers. Several baselining "
                    "approaches are offered.",
                    "Procurement: long-term tenders held twice a year, alongside shorter-term (e.g. day-ahead) "
                    "markets for the ENA standard products. Contracts follow the ENA standard agreement; "
                    "providers can combine UK Power Networks services with other flexibility programmes where "
                    "the commitments do not clash.",
                ),
                None,
                "https://dso.ukpowernetworks.co.uk/flexibility",
                "First version in the SFE library.",
            ),
        ),
    ),
    SeedDocument(
        "bsc-section-q",
        "neso_bm",
        "code",
        "Elexon (Balancing and Settlement Code)",
        (
            Version(
                "BSC Section Q: Balancing Services Activities",
                "The Balancing and Settlement Code rules for Balancing Mechanism data: physical notifications, "
                "bid-offer data and acceptances, balancing services adjustment data, and what NESO reports to "
                "settlement and to BMRS.",
                _body(
                    "Section Q of the Balancing and Settlement Code (BSC) sets out how Balancing Mechanism data "
                    "flows between BM unit lead parties, NESO and Elexon's central systems.",
                    "Lead parties submit physical notifications (the expected MW profile of each BM unit, final "
                    "at gate closure one hour before the settlement period), dynamic parameters and maximum "
                    "export and import limits, and bid-offer pairs with their prices.",
                    "NESO's bid-offer acceptances and its balancing services adjustment data (the cost and "
                    "volume of balancing actions taken outside the BM) are submitted to settlement and "
                    "published on the Balancing Mechanism Reporting Service (BMRS). The section also covers "
                    "corrections of manifest errors in bid-offer data and data for transparency reporting.",
                ),
                None,
                BSC_GUIDES,
                "First version in the SFE library.",
            ),
        ),
    ),
    SeedDocument(
        "bsc-section-t",
        "imbalance",
        "code",
        "Elexon (Balancing and Settlement Code)",
        (
            Version(
                "BSC Section T: Settlement and Trading Charges",
                "How imbalance settlement works: each party's contracted position is compared with its metered "
                "volume per half-hour settlement period, and the difference is cashed out at the imbalance "
                "price; BM acceptances are paid.",
                _body(
                    "Section T of the BSC defines the settlement calculations run for every half-hour "
                    "settlement period.",
                    "Trading charges: for each party, energy contract volumes notified in advance are compared "
                    "with metered volumes; the difference is the party's imbalance, charged or paid at the "
                    "imbalance price. Since 2015 a single imbalance price applies in both directions, derived "
                    "from the most expensive balancing actions NESO took in the period.",
                    "The section also defines the payments for accepted bids and offers (BM cashflows), "
                    "non-delivery charges, the residual cashflow reallocation, and the settlement runs "
                    "(initial and reconciliation) in which figures are recalculated as better meter data "
                    "arrives.",
                ),
                None,
                BSC_GUIDES,
                "First version in the SFE library.",
            ),
        ),
    ),
    SeedDocument(
        "bsc-section-k",
        "neso_bm",
        "code",
        "Elexon (Balancing and Settlement Code)",
        (
            Version(
                "BSC Section K: Classification and Registration of Metering Systems and BM Units",
                "Who is responsible for which metering systems and how BM units are registered, including "
                "secondary BM units through which Virtual Lead Parties bring aggregated small assets into the "
                "Balancing Mechanism.",
                _body(
                    "Section K of the BSC classifies metering systems and BM units and assigns responsibility "
                    "for them to BSC parties, so that every metered volume is settled against someone.",
                    "Primary BM units are registered by the party responsible for the metering systems (for "
                    "example a supplier or a generator). Secondary BM units, introduced for wider access, let "
                    "a Virtual Lead Party aggregate assets behind other parties' meters and offer their "
                    "flexibility in the Balancing Mechanism and in balancing services without becoming their "
                    "supplier.",
                    "The section covers registration, the grouping of metering systems into BM units within "
                    "a GSP group, changes of configuration, and the obligations that come with being a lead "
                    "party.",
                ),
                None,
                BSC_GUIDES,
                "First version in the SFE library.",
            ),
        ),
    ),
    SeedDocument(
        "grid-code-bc2",
        "neso_bm",
        "code",
        NESO,
        (
            Version(
                "Grid Code BC2: Post Gate Closure Process",
                "Balancing Code 2 of the Grid Code: how NESO instructs BM units after gate closure (bid-offer "
                "acceptances and ancillary service instructions), how units must respond, and the data they "
                "must keep up to date.",
                _body(
                    "Balancing Code 2 (BC2) of the Grid Code governs the period after gate closure, when NESO "
                    "balances the system in real time.",
                    "NESO issues bid-offer acceptances to BM units electronically, each with a target MW level "
                    "and timings; units must follow them within their declared dynamic parameters (run-up and "
                    "run-down rates, notice to deviate from zero, minimum zero and non-zero times) and "
                    "acknowledge them promptly. NESO can also issue instructions for ancillary services and, "
                    "in emergencies, emergency instructions.",
                    "Units must keep NESO informed of changes to their capability (for example revised maximum "
                    "export limits) and of anything that stops them following an instruction, and NESO "
                    "monitors compliance with the instructions issued.",
                ),
                None,
                GRID_CODE,
                "First version in the SFE library.",
            ),
        ),
    ),
)


def seed_library(s: Session) -> int:
    """Add every reference document not yet in the library (by slug), with its versions in order.
    Returns how many documents were added."""
    existing = {d.slug for d in library.list_documents(s)}
    added = 0
    for doc in DOCUMENTS:
        if doc.slug in existing:
            continue
        first, *later = doc.versions
        library.create_document(
            s,
            None,
            market_id=doc.market_id,
            product_id=doc.product_id,
            doc_type=doc.doc_type,
            publisher=doc.publisher,
            title=first.title,
            summary=first.summary,
            body=first.body,
            effective_date=first.effective_date,
            source_url=first.source_url,
            slug=doc.slug,
            change_note=first.change_note,
        )
        for v in later:
            library.add_version(
                s,
                None,
                doc.slug,
                title=v.title,
                summary=v.summary,
                body=v.body,
                effective_date=v.effective_date,
                source_url=v.source_url,
                change_note=v.change_note,
            )
        added += 1
    return added
