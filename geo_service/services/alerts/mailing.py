"""Alert email through the configured SMTP server (``GEO_SERVICE_SMTP_*``): a plain-text
message, English then French, with what to do and the poster's address."""

from __future__ import annotations

import re
import smtplib
import ssl
from email.message import EmailMessage

from geo_service.settings import Settings

_LINE_BREAKS = re.compile(r"[\x00-\x1f\x7f]+")


def configured(settings: Settings) -> bool:
    return bool(settings.smtp_host)


def one_line(text: str) -> str:
    """A header value: no line break can start another header."""
    return _LINE_BREAKS.sub(" ", text).strip()


def message(settings: Settings, to: str, subject: str, body: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = settings.smtp_from
    mail["To"] = to
    mail["Subject"] = one_line(subject)
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies
    mail.set_content(body)
    return mail


def send(settings: Settings, mail: EmailMessage) -> None:
    """Send one message; raises the smtplib or socket error on failure."""
    assert settings.smtp_host is not None
    with smtplib.SMTP(
        settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_s
    ) as smtp:
        if settings.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_username:
            password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
            smtp.login(settings.smtp_username, password)
        smtp.send_message(mail)
