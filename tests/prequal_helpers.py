"""Shared inputs for the prequalification and contract tests: a complete dossier for the rules
fixture's asset group ('Portfolio': REG-000001 battery in LPN/Ealing 2 MW + REG-000002 heat pumps
in EPN 0.3 MW), the two UKPN products it prequalifies for, a contract template, and a PDF text reader."""

from __future__ import annotations

import re
import zlib
from datetime import timedelta

from sfe.registry import contracts, db
from sfe.registry import prequalification as pq

from .registry_helpers import mpan

TWO_PRODUCTS = ("ukpn_secure", "ukpn_peak_reduction")  # taxonomy products of UKPN (local flexibility)


def group_ref(world) -> str:
    return f"group-{world.group_id}"


def dossier_input(response_time_s: float = 2.0) -> dict:
    tested = (pq._today() - timedelta(days=30)).isoformat()
    return {
        "technical": {
            "flexible_capacity_mw": 2.3,
            "direction": "up",
            "response_time_s": response_time_s,
            "ramp_up_mw_per_min": 5,
            "max_duration_min": 120,
            "telemetry": "near_real_time_1min",
            "telemetry_provider": "Acme control platform",
            "control_method": "remote_dispatch",
        },
        "metering": [
            {
                "asset_id": "REG-000001",
                "meter_type": "ct_operated",
                "mpan": mpan("12", 4242),
                "half_hourly_settled": True,
                "data_provider": "Stark Data",
            },
            {
                "asset_id": "REG-000002",
                "meter_type": "sub_meter",
                "meter_serial": "SM-0002",
                "data_provider": "Acme sub-metering",
            },
        ],
        "tests": [
            {
                "test_date": tested,
                "test_type": "response_test",
                "result": "pass",
                "summary": "Full response to a 2.3 MW step in 1.8 s, held for 2 h.",
                "measured_capacity_mw": 2.3,
                "measured_response_time_s": 1.8,
            }
        ],
    }


def extras(offered_mw: float = 2.0, price: float = 12.5) -> dict:
    return {
        "offered_capacity_mw": offered_mw,
        "availability_price_gbp_per_mw_h": price,
        "utilisation_price_gbp_per_mwh": 150,
        "baseline_methodology": "historical_rolling",
    }


def save_group_dossier(world, **kwargs) -> pq.DossierView:
    data = dossier_input(**kwargs)
    with db.session() as s:
        return pq.save_dossier(s, world["fsp"], group_ref(world), **data, change_note="first entry")


TEMPLATE_BODY = """# Parties
This agreement is between **{{so_name}}** and **{{fsp_name}}**.

# Service
{{product_name}} from {{start_date}}: **{{capacity_mw}} MW**, availability {{availability_price_gbp_per_mw_h}}.

Assets:

{{asset_list}}

# Standard terms
{{standard_terms}}
"""
TERMS = [
    {
        "reference": "ENA Flexibility Services Standard Agreement, clause 4 (Service Delivery)",
        "title": "Open Networks standard agreement",
        "url": "https://www.energynetworks.org/industry/flexibility-services",
    }
]


def save_template(world, product_id: str, body: str = TEMPLATE_BODY, title: str | None = None):
    with db.session() as s:
        return contracts.save_template(
            s,
            world["ukpn"],
            product_id,
            title or "Flexibility services agreement: {{product_name}}",
            body,
            TERMS,
        )


# -- reading a PDF's text (no PDF library in the project: inflate streams, map glyphs via ToUnicode) --
_STREAM = re.compile(rb"stream\r?\n(.*?)\r?\nendstream", re.S)
_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}


def _literal_at(content: bytes, start: int) -> tuple[bytes, int]:
    """The (...) string starting at ``start`` with its escapes resolved, and the index after it."""
    i, depth, buf = start + 1, 1, bytearray()
    while i < len(content):
        c = content[i : i + 1]
        if c == b"\\":
            nxt = content[i + 1 : i + 2]
            octal = re.match(rb"[0-7]{1,3}", content[i + 1 : i + 4])
            if octal:
                buf.append(int(octal.group(0), 8) & 0xFF)
                i += 1 + len(octal.group(0))
            else:
                buf += _ESCAPES.get(nxt, nxt)
                i += 2
            continue
        depth += c == b"("
        depth -= c == b")"
        if not depth:
            return bytes(buf), i + 1
        buf += c
        i += 1
    return bytes(buf), i


def _stream(obj: bytes) -> bytes:
    match = _STREAM.search(obj)
    if match is None:
        return b""
    try:
        return zlib.decompress(match.group(1))
    except zlib.error:
        return match.group(1)


def _cmap(data: bytes) -> dict[int, str]:
    cmap: dict[int, str] = {}
    for section in re.findall(rb"beginbfchar(.*?)endbfchar", data, re.S):
        for src, dst in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", section):
            cmap[int(src, 16)] = bytes.fromhex(dst.decode()).decode("utf-16-be")
    for section in re.findall(rb"beginbfrange(.*?)endbfrange", data, re.S):
        for lo, hi, dst in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", section):
            for k, code in enumerate(range(int(lo, 16), int(hi, 16) + 1)):
                cmap[code] = chr(int(dst, 16) + k)
    return cmap


def pdf_text(pdf: bytes) -> str:
    """The text a reader sees, in drawing order: each string is decoded with the ToUnicode map of
    the font selected by the last Tf (embedded TrueType subsets), or as Latin-1 (core fonts)."""
    objects = {int(n): body for n, body in re.findall(rb"(\d+) 0 obj(.*?)endobj", pdf, re.S)}
    font_maps: dict[bytes, dict[int, str] | None] = {}
    for body in objects.values():
        for fonts in re.findall(rb"/Font\s*<<(.*?)>>", body, re.S):
            for name, ref in re.findall(rb"/(\w+)\s+(\d+) 0 R", fonts):
                unicode_ref = re.search(rb"/ToUnicode\s+(\d+) 0 R", objects.get(int(ref), b""))
                font_maps[name] = _cmap(_stream(objects[int(unicode_ref.group(1))])) if unicode_ref else None
    texts = []
    for body in objects.values():
        content = _stream(body)
        if b"BT" not in content or b"Tf" not in content:
            continue
        current: dict[int, str] | None = None
        token, pos = re.compile(rb"/(\w+)\s+[\d.]+\s+Tf|\("), 0
        while (match := token.search(content, pos)) is not None:
            if match.group(0) != b"(":
                current = font_maps.get(match.group(1))
                pos = match.end()
                continue
            raw, pos = _literal_at(content, match.start())
            if current:
                texts.append(
                    "".join(
                        current.get(int.from_bytes(raw[k : k + 2], "big"), "") for k in range(0, len(raw), 2)
                    )
                )
            else:
                texts.append(raw.decode("latin-1"))
    return "".join(texts)
