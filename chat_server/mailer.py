"""Meeting invites by email: an iCalendar REQUEST/CANCEL (RFC 6047) sent over SMTP in a worker thread."""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage

log = logging.getLogger(__name__)

TIMEOUT = 15.0


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 587
    security: str = "starttls"  # "starttls", "tls" (implicit) or "none"
    username: str = ""
    password: str = ""
    sender: str = ""  # "" = the organiser's own address


def invite_message(
    *, sender: str, to: list[str], subject: str, text: str, ics: bytes, method: str
) -> EmailMessage:
    """A text part and the calendar part (text/calendar; method=...), plus the same as an .ics attachment:
    Gmail and Outlook show Accept/Decline for the inline part, other clients offer the file."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg.set_content(text)
    # as text (7bit: icalendar folds lines at 75 octets) so the mbox and any mail source stay readable
    msg.add_alternative(ics.decode(), subtype="calendar", params={"method": method})
    name = "cancel.ics" if method == "CANCEL" else "invite.ics"
    msg.add_attachment(ics, maintype="application", subtype="ics", filename=name)
    return msg


class Mailer:
    """Sends invites; one SMTP session per message (invites are rare, a kept connection would time out)."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    def _send_blocking(self, msg: EmailMessage) -> None:
        s = self.settings
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if s.security == "tls":
            smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=TIMEOUT, context=context)
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=TIMEOUT)
        with smtp:
            if s.security == "starttls":
                smtp.starttls(context=context)
            if s.username:
                smtp.login(s.username, s.password)
            smtp.send_message(msg)

    async def send(self, msg: EmailMessage) -> None:
        """Raises OSError/smtplib.SMTPException; the caller logs (never with the password)."""
        await asyncio.to_thread(self._send_blocking, msg)
