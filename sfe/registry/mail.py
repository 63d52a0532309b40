"""Outgoing mail: SMTP when ``SFE_SMTP_HOST`` is set, otherwise one ``.eml`` file per message in
``lake/outbox/`` (the development inbox page shows them).

Settings: ``SFE_SMTP_HOST``, ``SFE_SMTP_PORT`` (default 587 with STARTTLS, 465 means implicit TLS,
otherwise 25), ``SFE_SMTP_USER``/``SFE_SMTP_PASSWORD`` (login when set), ``SFE_SMTP_STARTTLS``
(default on; set 0 only for a trusted relay on the same host), ``SFE_MAIL_FROM``
(default ``SFE <no-reply@localhost>``). Links in mails start with ``SFE_APP_URL``
(default http://localhost:8501).

The outbox holds live confirmation and reset links, so the app shows it only while mail goes
nowhere else *and* the app URL is a loopback address (a development machine); ``SFE_DEV_INBOX=1``
or ``0`` overrides that choice.
"""

from __future__ import annotations

import os
import re
import smtplib
import ssl
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, make_msgid, parsedate_to_datetime
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from sfe.config import lake

DEFAULT_APP_URL = "http://localhost:8501"
DEFAULT_FROM = "SFE <no-reply@localhost>"
SMTP_TIMEOUT_S = 20
_LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}
_URL = re.compile(r"https?://[^\s<>\"']+")


class MailError(RuntimeError):
    """The message could not be handed to the SMTP server."""


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    return value in {"1", "true", "yes", "on"}


def smtp_configured() -> bool:
    return bool(os.environ.get("SFE_SMTP_HOST", "").strip())


def app_url() -> str:
    return (os.environ.get("SFE_APP_URL", "").strip() or DEFAULT_APP_URL).rstrip("/")


def link(page: str, **params: str) -> str:
    """An absolute link into the app: ``link("sign_in", confirm=token)``."""
    query = f"?{urlencode(params)}" if params else ""
    return f"{app_url()}/{page.strip('/')}{query}"


def dev_inbox_enabled() -> bool:
    """Show the outbox in the app? Only without SMTP, and (unless overridden) on a loopback app URL."""
    if smtp_configured():
        return False
    host = urlsplit(app_url()).hostname or ""
    return _flag("SFE_DEV_INBOX", host in _LOOPBACK_HOSTS)


def _message(to: str, subject: str, text: str, html: str | None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = os.environ.get("SFE_MAIL_FROM", "").strip() or DEFAULT_FROM
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain="sfe.local")
    msg.set_content(text)
    if html:
        msg.add_alternative(html, subtype="html")
    return msg


def _send_smtp(msg: EmailMessage) -> None:
    host = os.environ["SFE_SMTP_HOST"].strip()
    starttls = _flag("SFE_SMTP_STARTTLS", True)
    port_text = os.environ.get("SFE_SMTP_PORT", "").strip()
    try:
        port = int(port_text) if port_text else (587 if starttls else 25)
    except ValueError:
        raise MailError(f"SFE_SMTP_PORT={port_text!r} is not a port number") from None
    user = os.environ.get("SFE_SMTP_USER", "").strip()
    password = os.environ.get("SFE_SMTP_PASSWORD", "")
    context = ssl.create_default_context()
    try:
        if port == 465:
            server: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=SMTP_TIMEOUT_S, context=context)
        else:
            server = smtplib.SMTP(host, port, timeout=SMTP_TIMEOUT_S)
        with server:
            if starttls and port != 465:
                server.starttls(context=context)
            if user:
                server.login(user, password)
            server.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"could not send mail through {host}:{port}: {exc}") from exc


def _write_outbox(msg: EmailMessage) -> Path:
    outbox = lake().outbox
    outbox.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = outbox / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(msg.as_bytes(policy=policy.SMTP))
    tmp.replace(path)  # readers never see half a message
    return path


def send(to: str, subject: str, text: str, html: str | None = None) -> None:
    """Send one message (SMTP) or file it in the outbox. Raises MailError when SMTP refuses it."""
    msg = _message(to, subject, text, html)
    if smtp_configured():
        _send_smtp(msg)
    else:
        _write_outbox(msg)


@dataclass(frozen=True)
class OutboxMessage:
    path: Path
    to: str
    subject: str
    sent_at: datetime | None
    text: str
    links: tuple[str, ...]


def parse_message(raw: bytes, path: Path | None = None) -> OutboxMessage:
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    body = msg.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else ""
    try:
        sent_at = parsedate_to_datetime(msg["Date"]) if msg["Date"] else None
    except (TypeError, ValueError):
        sent_at = None
    return OutboxMessage(
        path=path or Path(),
        to=str(msg["To"] or ""),
        subject=str(msg["Subject"] or ""),
        sent_at=sent_at,
        text=text,
        links=tuple(dict.fromkeys(_URL.findall(text))),
    )


def outbox_messages(limit: int = 200) -> list[OutboxMessage]:
    """The newest ``limit`` messages of the outbox, newest first."""
    outbox = lake().outbox
    if not outbox.is_dir():
        return []
    paths = sorted(outbox.glob("*.eml"), reverse=True)[:limit]
    return [parse_message(p.read_bytes(), p) for p in paths]
