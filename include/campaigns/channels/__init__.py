"""Channels: one small interface, an adapter per provider; the executor never knows which."""

from include.campaigns.channels.base import ChannelAdapter, DeliveryResult, OutboundMessage
from include.campaigns.channels.registry import load_adapters

__all__ = ["ChannelAdapter", "DeliveryResult", "OutboundMessage", "load_adapters"]
