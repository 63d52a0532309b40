"""Option 2: a product's rules kept outside SFE, called over HTTP (the contract is docs/rules-api.md).

SFE POSTs the evaluation request as JSON and expects ``{"verdicts": [...]}`` in the shape SFE's own
verdicts have. Anything else — a timeout, a refused connection, a non-200 status, a body that is
not that shape — raises ``ExternalRulesError`` with a message that says what went wrong; the engine
turns it into an *error* verdict, never a pass.
"""

from __future__ import annotations

import ipaddress
import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from sfe.rules.kinds import ERROR, MODES, OUTCOMES, RuleError

MAX_RESPONSE_BYTES = 1_000_000
MAX_TIMEOUT_S = 30.0
USER_AGENT = "SFE-rules-engine/1"
# What a remote service may answer (it cannot claim an 'error' outcome for itself).
REMOTE_OUTCOMES = tuple(o for o in OUTCOMES if o != ERROR)


class ExternalRulesError(RuntimeError):
    """The external rules service could not give a usable answer; the message says why."""


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def validate_url(url: str) -> str:
    """An endpoint URL SFE may call: https, or http on loopback (a service on the same machine).
    Credentials in the URL are refused (they would be stored and shown in clear)."""
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RuleError(
            f"rules endpoint {url!r}: give a full http(s) URL, e.g. https://rules.example.org/evaluate"
        )
    if parts.username or parts.password:
        raise RuleError("rules endpoint: user names and passwords in the URL are not accepted")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise RuleError(f"rules endpoint {url!r}: use https (plain http only for a service on this machine)")
    return url


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D102 - urllib hook
        raise ExternalRulesError(
            f"the rules service redirected ({code}) to {newurl}; SFE does not follow redirects"
        )


_OPENER = urllib.request.build_opener(_NoRedirect)


def _verdicts_from(body: Any, request_id: str) -> list[dict[str, Any]]:
    if not isinstance(body, dict) or not isinstance(body.get("verdicts"), list):
        raise ExternalRulesError("the rules service's answer is not a JSON object with a 'verdicts' list")
    echoed = body.get("request_id")
    if echoed is not None and echoed != request_id:
        raise ExternalRulesError(f"the rules service answered request {echoed!r}, not {request_id!r}")
    verdicts = []
    for i, v in enumerate(body["verdicts"]):
        where = f"verdicts[{i}]"
        if not isinstance(v, dict):
            raise ExternalRulesError(f"{where} is not a JSON object")
        for name in ("rule_id", "rule_name", "explanation"):
            if not isinstance(v.get(name), str) or not v[name].strip():
                raise ExternalRulesError(f"{where}.{name} is missing or not a non-empty string")
        if v.get("mode") not in MODES:
            raise ExternalRulesError(f"{where}.mode {v.get('mode')!r} is not one of {', '.join(MODES)}")
        if v.get("outcome") not in REMOTE_OUTCOMES:
            raise ExternalRulesError(
                f"{where}.outcome {v.get('outcome')!r} is not one of {', '.join(REMOTE_OUTCOMES)}"
            )
        missing = v.get("missing_fields") or []
        if not isinstance(missing, list) or not all(isinstance(m, str) for m in missing):
            raise ExternalRulesError(f"{where}.missing_fields must be a list of field names")
        kind = v.get("kind") or "external"
        if not isinstance(kind, str):
            raise ExternalRulesError(f"{where}.kind must be a string")
        verdicts.append(
            {
                "rule_id": v["rule_id"].strip(),
                "rule_name": v["rule_name"].strip(),
                "kind": kind,
                "mode": v["mode"],
                "outcome": v["outcome"],
                "explanation": v["explanation"].strip(),
                "missing_fields": missing,
            }
        )
    return verdicts


def call(url: str, payload: dict[str, Any], timeout_s: float) -> list[dict[str, Any]]:
    """POST the request to the rules service; its verdicts, validated. Raises ExternalRulesError."""
    timeout_s = min(max(float(timeout_s), 0.1), MAX_TIMEOUT_S)
    data = json.dumps(payload).encode()
    req = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json", "User-Agent": USER_AGENT},
    )
    try:
        with _OPENER.open(req, timeout=timeout_s) as response:
            raw = response.read(MAX_RESPONSE_BYTES + 1)
    except ExternalRulesError:
        raise
    except urllib.error.HTTPError as exc:
        raise ExternalRulesError(f"the rules service answered HTTP {exc.code} {exc.reason}") from None
    except TimeoutError:
        raise ExternalRulesError(f"the rules service did not answer within {timeout_s:g} s") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            raise ExternalRulesError(f"the rules service did not answer within {timeout_s:g} s") from None
        raise ExternalRulesError(f"the rules service could not be reached: {reason}") from None
    except OSError as exc:
        raise ExternalRulesError(f"the rules service could not be reached: {exc}") from None
    if len(raw) > MAX_RESPONSE_BYTES:
        raise ExternalRulesError(f"the rules service's answer is larger than {MAX_RESPONSE_BYTES:,} bytes")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExternalRulesError(f"the rules service's answer is not valid JSON ({exc})") from None
    return _verdicts_from(body, payload["request_id"])
