"""Which adapter serves which channel: Airflow connections ``channel_<name>`` decide.

A connection's extra ``{"adapter": "sandbox"}`` (the default) or ``{"adapter": "pkg.module:Class"}``
picks the adapter; the whole connection (login, password, host, extra) is handed to it as
settings, so provider credentials stay in Airflow connections.

Every adapter built here gets the retry policy of ``resilient.py`` (per-call timeout, bounded
retries with backoff, same idempotency key on every attempt), configured by the same extra:
``timeout_seconds``, ``max_attempts``, ``backoff_seconds``, ``max_backoff_seconds``.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable

from sqlalchemy import Engine

from include.campaigns.channels.base import ChannelAdapter
from include.campaigns.channels.resilient import RetryPolicy, make_resilient
from include.campaigns.channels.sandbox import SandboxAdapter

ADAPTER_CHANNELS = ("whatsapp", "sms", "email", "voice")
BUILTIN: dict[str, Callable[..., ChannelAdapter]] = {"sandbox": SandboxAdapter}


def _connection_settings(channel: str) -> dict:
    try:
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(f"channel_{channel}")
    except Exception:
        return {}
    extra = conn.extra_dejson if hasattr(conn, "extra_dejson") else json.loads(conn.extra or "{}")
    return {"login": conn.login, "password": conn.password, "host": conn.host, "port": conn.port, "extra": extra}


def _factory(spec: str) -> Callable[..., ChannelAdapter]:
    if spec in BUILTIN:
        return BUILTIN[spec]
    module_name, _, attr = spec.partition(":")
    if not attr:
        raise ValueError(f"adapter {spec!r}: expected 'sandbox' or 'package.module:ClassName'")
    return getattr(importlib.import_module(module_name), attr)


def load_adapters(engine: Engine, overrides: dict[str, ChannelAdapter] | None = None) -> dict[str, ChannelAdapter]:
    adapters: dict[str, ChannelAdapter] = {}
    for channel in ADAPTER_CHANNELS:
        if overrides and channel in overrides:
            adapters[channel] = overrides[channel]
            continue
        settings = _connection_settings(channel)
        extra = settings.get("extra") or {}
        adapter = _factory(extra.get("adapter", "sandbox"))(channel=channel, settings=settings, engine=engine)
        default = getattr(adapter, "default_retry_policy", None)
        adapters[channel] = make_resilient(adapter, RetryPolicy.from_extra(extra, default))
    return adapters
