"""Which adapter serves which channel: the Airflow connection ``channel_<name>`` decides, strictly.

Its extra names the adapter: ``{"adapter": "sandbox"}`` (the offline sandbox), a built-in provider name,
or ``{"adapter": "package.module:ClassName"}``. The whole connection (login, password, host, port, extra)
is handed to the adapter as its settings, so credentials live in Airflow connections only. A connection
that is missing, has no ``adapter``, or names one that cannot be loaded is a ``ConnectionConfigError``
naming the connection: the chunk fails before any step is sent or logged, and its steps stay due.

Every adapter gets the retry policy of ``resilient.py``, configured by the same extra: ``timeout_seconds``,
``max_attempts``, ``backoff_seconds``, ``max_backoff_seconds``. An adapter with a ``check_connection()`` is
asked to check its credentials when it is loaded: wrong ones fail here too, before any step.

Built in: ``sandbox`` (offline), ``smtp`` (``smtp_adapter.py``), ``twilio`` (``twilio_adapter.py``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable

from sqlalchemy import Engine

from include.campaigns.channels.base import ChannelAdapter
from include.campaigns.channels.resilient import RetryPolicy, make_resilient
from include.campaigns.channels.sandbox import SandboxAdapter
from include.campaigns.channels.smtp_adapter import SmtpAdapter
from include.campaigns.channels.twilio_adapter import TwilioAdapter
from include.campaigns.domain.vocabulary import DELIVERY_CHANNELS
from include.campaigns.infra.connections import ConnectionConfigError, ConnectionSettings, lookup, require

BUILTIN: dict[str, Callable[..., ChannelAdapter]] = {
    "sandbox": SandboxAdapter, "smtp": SmtpAdapter, "twilio": TwilioAdapter}
HINT = 'define it with extra {"adapter": "sandbox"} (offline), "smtp" or "twilio" (README, "Channels")'


def conn_id(channel: str) -> str:
    return f"channel_{channel}"


def adapter_factory(name: str, spec: object) -> Callable[..., ChannelAdapter]:
    if not isinstance(spec, str) or not spec:
        raise ConnectionConfigError(f"connection {name}: its extra must name an adapter, e.g. {{\"adapter\": \"sandbox\"}}")
    if spec in BUILTIN:
        return BUILTIN[spec]
    module_name, _, attr = spec.partition(":")
    if not attr:
        raise ConnectionConfigError(
            f"connection {name}: unknown adapter {spec!r} (built in: {', '.join(BUILTIN)}; "
            "or 'package.module:ClassName')")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConnectionConfigError(f"connection {name}: adapter {spec!r} cannot be loaded ({exc})") from exc


def load_adapter(engine: Engine, channel: str) -> ChannelAdapter:
    name = conn_id(channel)
    conn = require(name, HINT)
    factory = adapter_factory(name, conn.extra.get("adapter"))
    try:
        adapter = factory(channel=channel, settings=adapter_settings(conn), engine=engine)
        policy = RetryPolicy.from_extra(conn.extra, getattr(adapter, "default_retry_policy", None))
    except ConnectionConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConnectionConfigError(f"connection {name}: {exc}") from exc
    check = getattr(adapter, "check_connection", None)
    if callable(check):
        check()
    return make_resilient(adapter, policy)


def adapter_settings(conn: ConnectionSettings) -> dict:
    """What an adapter is configured with: the whole connection."""
    return {"login": conn.login, "password": conn.password, "host": conn.host, "port": conn.port,
            "schema": conn.schema, "extra": conn.extra, "conn_id": conn.conn_id}


def channel_connection(channel: str) -> ConnectionSettings | None:
    """The channel's connection if one is defined (the webhooks read the Twilio ones)."""
    return lookup(conn_id(channel))


def load_adapters(engine: Engine, channels: Iterable[str] = DELIVERY_CHANNELS) -> dict[str, ChannelAdapter]:
    """The adapters of ``channels`` (default: every channel), each from its connection."""
    return {channel: load_adapter(engine, channel) for channel in channels}
