"""Transport: one mail connection for a batch (SMTP by hand, or any Django/anymail backend),
and the classification of every failure into Transient/PermanentFailure."""

import logging
import secrets
import smtplib
from email.utils import parseaddr
from pathlib import Path

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.utils import timezone

from .. import bounces
from . import relays
from .errors import PermanentFailure, TransientFailure, classify_code
from .mime import Outgoing, Sender, build_mime

log = logging.getLogger(__name__)


class Transport:
    """One connection for a batch, through the configured Django email backend.

    SMTP and the file backend get the hand-built bytes (fast path; the file backend writes
    one .eml per message). Any other backend — locmem, console, django-anymail providers —
    gets an EmailMultiAlternatives with the same headers, plus anymail `metadata` (the
    recipient's token and the campaign id) so provider webhooks find the recipient.

    Every method that talks to the server raises (or returns) only TransientFailure or
    PermanentFailure.
    """

    def __init__(self, sender: Sender):
        self.sender = sender
        self.backend = get_connection(fail_silently=False)
        module = type(self.backend).__module__
        if module == "django.core.mail.backends.smtp":
            self.kind = "smtp"
        elif module == "django.core.mail.backends.filebased":
            self.kind = "file"
        else:
            self.kind = "anymail" if module.startswith("anymail.") else "django"

    def open(self):
        if self.kind == "file":
            Path(self.backend.file_path).mkdir(parents=True, exist_ok=True)
            return
        try:
            self.backend.open()
        except smtplib.SMTPResponseException as exc:
            raise classify_code(exc.smtp_code, exc.smtp_error) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise TransientFailure(f"cannot connect to the mail server: {exc}") from exc

    def pipelined(self) -> bool:
        """SMTP with PIPELINING: the message can be sent in two steps (`begin`, `finish`)."""
        return self.kind == "smtp" and pipelining(self.backend.connection)

    def drop(self):
        """Hang up (the server discards an unfinished message); the next send reconnects."""
        self.close()
        self.backend.connection = None

    def close(self):
        try:
            self.backend.close()
        except Exception:  # a broken connection is being dropped anyway
            log.debug("closing the mail connection failed", exc_info=True)

    def send(self, out: Outgoing) -> None:
        if self.kind == "smtp":
            self._send_smtp(out)
        elif self.kind == "file":
            name = f"{timezone.now():%Y%m%d-%H%M%S}-{out.recipient_id}-{secrets.token_hex(4)}.eml"
            (Path(self.backend.file_path) / name).write_bytes(out.data or build_mime(out, self.sender))
        else:
            self._send_django(out)

    def begin(self, out: Outgoing):
        """MAIL/RCPT/DATA for `out` (pipelined when the server offers it; nothing is
        delivered yet): None when the server waits for the message, else the failure (the
        connection dropped if lost)."""
        try:
            if self.backend.connection is None:
                self.open()
            conn = self.backend.connection
            if pipelining(conn):
                return smtp_begin(conn, self.sender.envelope, out.rcpt)
            return smtp_begin_stepwise(conn, self.sender.envelope, out.rcpt)
        except (TransientFailure, PermanentFailure) as exc:
            return exc
        except (OSError, smtplib.SMTPException) as exc:
            self.drop()
            return TransientFailure(f"mail server connection lost: {exc}")

    def finish(self, out: Outgoing):
        """The message and the final dot after `begin`: None when accepted (the relay's id of
        the message, from its answer, kept in `out.provider_message_id`), else the failure."""
        try:
            answer = smtp_finish(self.backend.connection, out.data or build_mime(out, self.sender))
            out.provider_message_id = relays.queue_id(answer)
        except smtplib.SMTPResponseException as exc:
            return classify_code(exc.smtp_code, exc.smtp_error)
        except (OSError, smtplib.SMTPException) as exc:
            self.drop()
            return TransientFailure(f"mail server connection lost: {exc}")
        return None

    def _send_smtp(self, out: Outgoing) -> None:
        data = out.data or build_mime(out, self.sender)
        try:
            if self.backend.connection is None:
                self.open()
            smtp_send(self.backend.connection, self.sender.envelope, out.rcpt or parseaddr(out.to)[1], data)
        except smtplib.SMTPRecipientsRefused as exc:
            code, message = next(iter(exc.recipients.values()))
            raise classify_code(code, message) from exc
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code == 421:
                self.close()
            raise classify_code(exc.smtp_code, exc.smtp_error) from exc
        except (OSError, smtplib.SMTPException) as exc:
            self.drop()
            raise TransientFailure(f"mail server connection lost: {exc}") from exc

    def _send_django(self, out: Outgoing) -> None:
        message = EmailMultiAlternatives(
            subject=out.subject,
            body=out.text,
            from_email=self.sender.from_header,
            to=[out.to],
            headers={"Message-ID": out.message_id, **dict(out.headers)},
            reply_to=[self.sender.reply_to] if self.sender.reply_to else None,
            connection=self.backend,
        )
        message.attach_alternative(out.html, "text/html")
        if self.kind == "anymail":
            message.metadata = out.metadata
            if type(self.backend) not in _NO_TRACKING_SWITCHES:
                message.track_clicks = False  # we rewrite links ourselves
                message.track_opens = False
        try:
            self._send_anymail_aware(message)
        except smtplib.SMTPResponseException as exc:
            raise classify_code(exc.smtp_code, exc.smtp_error) from exc
        except OSError as exc:
            raise TransientFailure(str(exc)) from exc
        except Exception as exc:
            raise _classify_anymail(exc, self.esp_name, _recipient_status(message, out.rcpt)) from exc
        if self.kind == "anymail":
            out.provider_message_id = _provider_id(message, out.rcpt)

    def _send_anymail_aware(self, message) -> None:
        """Send; an ESP without per-message tracking switches (Resend, Amazon SES, Brevo, …)
        refuses them before any request: then it is sent without them, and remembered."""
        try:
            self.backend.send_messages([message])
        except Exception as exc:
            if type(exc).__name__ != "AnymailUnsupportedFeature" or "track" not in str(exc):
                raise
            _NO_TRACKING_SWITCHES.add(type(self.backend))
            del message.track_clicks, message.track_opens
            self.backend.send_messages([message])

    @property
    def esp_name(self) -> str:
        return getattr(self.backend, "esp_name", "") or type(self.backend).__module__.rpartition(".")[2]


# anymail backends whose ESP has no per-message open/click tracking switches.
_NO_TRACKING_SWITCHES = set()


def _recipient_status(message, address):
    """anymail's status object for `address` after a send (None before one)."""
    status = getattr(message, "anymail_status", None)
    recipients = getattr(status, "recipients", None) or {}
    return recipients.get(address.lower()) or recipients.get(address)


def _provider_id(message, address) -> str:
    """The id the anymail provider gave the message for `address` (anymail_status)."""
    found = _recipient_status(message, address)
    value = getattr(found, "message_id", None) or getattr(getattr(message, "anymail_status", None), "message_id", None)
    return str(value)[:255] if value and not isinstance(value, set) else ""


def _classify_anymail(exc, esp: str, recipient_status=None) -> Exception:
    """An anymail error as a failure: a refused recipient is what the provider's verdict
    says (campaigns.bounces.PROVIDER_SEND_STATUSES: "rejected"/"invalid" → a hard bounce),
    other 4xx permanent, 5xx/429 transient."""
    from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused

    if isinstance(exc, AnymailRecipientsRefused):
        verdict = getattr(recipient_status, "status", None) or "rejected"
        return PermanentFailure(str(exc), bounces.PROVIDER_SEND_STATUSES.get(verdict, bounces.OTHER), source=esp)
    if isinstance(exc, AnymailAPIError):
        status = getattr(exc, "status_code", None)
        if status is None or status >= 500 or status == 429:
            return TransientFailure(str(exc), source=esp)
        return PermanentFailure(str(exc), source=esp)
    return TransientFailure(f"{type(exc).__name__}: {exc}", source=esp)


def pipelining(conn: smtplib.SMTP) -> bool:
    """Use PIPELINING (RFC 2920)? When the server offers it, unless the setting
    SEND_SMTP_PIPELINING says otherwise (tests force it on against aiosmtpd)."""
    conn.ehlo_or_helo_if_needed()
    forced = getattr(settings, "SEND_SMTP_PIPELINING", None)
    return conn.has_extn("pipelining") if forced is None else forced


def smtp_send(conn: smtplib.SMTP, sender: str, rcpt: str, data: bytes) -> None:
    """One message over an open connection; raises smtplib's exceptions like `sendmail`
    (or Permanent/TransientFailure for a pipelined refusal).

    With PIPELINING (offered by Postfix, Exim and every large provider) MAIL, RCPT and
    DATA go out in one write and their answers are read together: two round trips a
    message instead of four. `BODY=8BITMIME` is declared when the server supports it.
    """
    if not pipelining(conn):
        options = ["BODY=8BITMIME"] if conn.has_extn("8bitmime") else []
        conn.sendmail(sender, [rcpt], data, mail_options=options)
        return
    refusal = smtp_begin(conn, sender, rcpt)
    if refusal is not None:
        raise refusal
    smtp_finish(conn, data)


def smtp_begin(conn: smtplib.SMTP, sender: str, rcpt: str):
    """Pipelined MAIL, RCPT, DATA. None when the server now waits for the message (354);
    else the refusal as a Permanent/TransientFailure, with the transaction reset.
    Nothing is delivered until `smtp_finish` sends the final dot."""
    conn.ehlo_or_helo_if_needed()  # a fresh connection after a hang-up
    options = " BODY=8BITMIME" if conn.has_extn("8bitmime") else ""
    conn.send(f"MAIL FROM:<{sender}>{options}\r\nRCPT TO:<{rcpt}>\r\nDATA\r\n".encode())
    mail, to, go = conn.getreply(), conn.getreply(), conn.getreply()
    if go[0] == 354 and (mail[0] != 250 or to[0] not in (250, 251)):
        conn.send(b".\r\n")  # end the (empty) message the server should not have accepted
        conn.getreply()
    for code, message in (mail, to, go):
        if code not in (250, 251, 354):
            conn.rset()
            return classify_code(code, message)
    return None


def smtp_begin_stepwise(conn: smtplib.SMTP, sender: str, rcpt: str):
    """`smtp_begin` for a server without PIPELINING: MAIL, RCPT, DATA one by one."""
    options = ["BODY=8BITMIME"] if conn.has_extn("8bitmime") else []
    for code, message in (conn.mail(sender, options), conn.rcpt(rcpt)):
        if code not in (250, 251):
            conn.rset()
            return classify_code(code, message)
    code, message = conn.docmd("DATA")
    if code != 354:
        conn.rset()
        return classify_code(code, message)
    return None


def smtp_finish(conn: smtplib.SMTP, data: bytes) -> bytes:
    """The message and the final dot; raises SMTPDataError unless the server answers 250.
    Returns the answer's text (a relay's queue id is in it)."""
    body = smtplib._quote_periods(data) if data.startswith(b".") or b"\n." in data else data
    conn.send(body + (b".\r\n" if body.endswith(b"\r\n") else b"\r\n.\r\n"))
    code, message = conn.getreply()
    if code != 250:
        raise smtplib.SMTPDataError(code, message)
    return message
