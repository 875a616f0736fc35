"""Signed unsubscribe links: what every e-mail carries, and what the admin API checks when one is followed.

The secret and the public address live in the Airflow connection ``campaigns_unsubscribe``: password = the
HMAC secret (at least 16 characters; rotating it invalidates the links already sent), extra ``base_url`` =
the public origin of the admin API (``https://campaigns.example.com``). A link is
``<base_url>/api/v1/unsubscribe/<token>``, token = ``u1.<lead>.<campaign>.<step>.<signature>``, signature =
HMAC-SHA256(secret, ``unsubscribe:<lead>:<campaign>:<step>``) in URL-safe base64. A token whose signature
does not match is refused (403) and changes nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass, field

from include.campaigns.infra.connections import ConnectionConfigError, lookup, require

CONN_ID = "campaigns_unsubscribe"
HINT = ('define it with password = a random secret (16+ characters) and extra {"base_url": '
        '"https://<public address of the admin API>"} (README, "Channels")')
PATH = "/api/v1/unsubscribe/"
_TOKEN = re.compile(r"^u1\.([1-9][0-9]{0,18})\.([1-9][0-9]{0,18})\.([1-9][0-9]{0,9})\.([A-Za-z0-9_-]{43})$")


class InvalidLink(ValueError):
    """The token is malformed or its signature does not match."""


@dataclass(frozen=True)
class Target:
    lead_id: int
    campaign_id: int
    step_number: int


@dataclass(frozen=True)
class UnsubscribeLinks:
    secret: bytes = field(repr=False)
    base_url: str

    @classmethod
    def from_settings(cls, conn_id: str, password: str | None, extra: dict) -> UnsubscribeLinks:
        if not password or len(password) < 16:
            raise ConnectionConfigError(f"connection {conn_id}: its password must be the HMAC secret of the "
                                        "unsubscribe links, at least 16 characters")
        base = extra.get("base_url")
        if not isinstance(base, str) or not re.match(r"^https?://[^/\s]+", base):
            raise ConnectionConfigError(f"connection {conn_id}: extra base_url must be the public http(s) address "
                                        "of the admin API, e.g. https://campaigns.example.com")
        return cls(password.encode(), base.rstrip("/"))

    @classmethod
    def configured(cls, required: bool = True) -> UnsubscribeLinks | None:
        """From the connection; None when it is not defined and not ``required``."""
        conn = require(CONN_ID, HINT) if required else lookup(CONN_ID)
        return None if conn is None else cls.from_settings(CONN_ID, conn.password, conn.extra)

    def _signature(self, lead_id: int, campaign_id: int, step_number: int) -> str:
        mac = hmac.new(self.secret, f"unsubscribe:{lead_id}:{campaign_id}:{step_number}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")

    def token(self, lead_id: int, campaign_id: int, step_number: int) -> str:
        return f"u1.{lead_id}.{campaign_id}.{step_number}.{self._signature(lead_id, campaign_id, step_number)}"

    def url(self, lead_id: int, campaign_id: int, step_number: int) -> str:
        return f"{self.base_url}{PATH}{self.token(lead_id, campaign_id, step_number)}"

    def verify(self, token: str) -> Target:
        m = _TOKEN.match(token or "")
        if not m:
            raise InvalidLink("malformed unsubscribe link")
        lead, campaign, step = (int(g) for g in m.groups()[:3])
        if not hmac.compare_digest(m.group(4), self._signature(lead, campaign, step)):
            raise InvalidLink("the unsubscribe link's signature does not match")
        return Target(lead, campaign, step)
