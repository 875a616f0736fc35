"""Channels: one small interface, an adapter per provider; the executor never knows which."""

from include.campaigns.channels.base import ChannelAdapter, DeliveryResult, OutboundMessage
from include.campaigns.channels.registry import load_adapters
from include.campaigns.channels.resilient import (
    ProviderError, ProviderTimeout, ResilientAdapter, ResilientDelivery, RetryPolicy, deliver_with_retries,
)

__all__ = [
    "ChannelAdapter", "DeliveryResult", "OutboundMessage", "ProviderError", "ProviderTimeout", "ResilientAdapter",
    "ResilientDelivery", "RetryPolicy", "deliver_with_retries", "load_adapters",
]
