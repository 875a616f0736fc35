"""A real SMTP server in the test process (``aiosmtpd``), on a free loopback port.

It keeps every accepted message as received (parsed with ``email``), and answers as ``script[recipient]``
says, one entry per delivery attempt (the last repeats): ``ok``, ``451`` (a transient refusal at the end of
DATA: "try again later"), ``550`` (a permanent one at RCPT: no such user). With ``tls=True`` it offers
STARTTLS with a self-signed certificate and demands it, and AUTH LOGIN/PLAIN with ``login``/``password``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
from collections import defaultdict
from email import message_from_bytes, policy
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

LOGIN, PASSWORD = "mailer@sol.test", "smtp-password-0123"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 / localhost, and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.script: dict[str, list[str]] = {}
        self.attempts: dict[str, int] = defaultdict(int)
        self.received: list = []  # email.message.EmailMessage, with .envelope_from / .envelope_to

    def _step(self, rcpt: str) -> str:
        steps = self.script.get(rcpt, ["ok"])
        return steps[min(self.attempts[rcpt], len(steps) - 1)]

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self.lock:
            step = self._step(address)
            if step == "550":
                self.attempts[address] += 1
                return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        rcpt = envelope.rcpt_tos[0]
        with self.lock:
            step = self._step(rcpt)
            self.attempts[rcpt] += 1
            if step == "451":
                return "451 4.3.0 Mailbox busy, try again later"
            msg = message_from_bytes(envelope.content, policy=policy.default)
            msg.envelope_from, msg.envelope_to = envelope.mail_from, list(envelope.rcpt_tos)
            self.received.append(msg)
        return "250 2.0.0 Ok: queued"


def _authenticate(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == LOGIN and \
        auth_data.password.decode() == PASSWORD
    return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 235 or 535 itself


class SmtpPeer:
    def __init__(self, tls_folder: Path | None = None) -> None:
        self.recorder = Recorder()
        self.port = free_port()
        self.cert_file: Path | None = None
        kwargs: dict = {}
        if tls_folder is not None:
            self.cert_file, key_file = self_signed(tls_folder)
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.cert_file, key_file)
            kwargs = {"tls_context": context, "require_starttls": True, "authenticator": _authenticate,
                      "auth_required": True}
        self.controller = Controller(self.recorder, hostname="127.0.0.1", port=self.port, **kwargs)

    @property
    def received(self) -> list:
        return self.recorder.received

    @property
    def script(self) -> dict[str, list[str]]:
        return self.recorder.script

    def __enter__(self) -> SmtpPeer:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()
