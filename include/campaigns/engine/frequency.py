"""Broker-wide frequency caps: how many SENT contacts a lead had on a channel within a cap's window.

A cap with channel null counts every channel. Contacts of this run count as they are decided (at the run
time), so two campaigns of one lead in one chunk see each other's sends.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from include.campaigns.engine.chunk import FrequencyCap


class FrequencyCounter:
    def __init__(self, run_at: datetime, caps: Mapping[int, Sequence[FrequencyCap]],
                 recent: Mapping[int, Sequence[tuple[str, datetime]]]) -> None:
        self.run_at = run_at
        # per broker: (cap, start of its window), computed once -- allows() runs for every contact step
        self.windows = {broker_id: [(cap, run_at - timedelta(hours=cap.per_hours)) for cap in broker_caps]
                        for broker_id, broker_caps in caps.items()}
        self.contacts: dict[int, list[tuple[str, datetime]]] = defaultdict(list)
        for lead_id, contacts in recent.items():
            self.contacts[lead_id].extend(contacts)

    def allows(self, broker_id: int, lead_id: int, channel: str) -> bool:
        """Whether one more contact on ``channel`` stays within every cap of the broker that covers it."""
        windows = self.windows.get(broker_id)
        if not windows:
            return True
        contacts = self.contacts.get(lead_id)
        if not contacts:  # most leads: nothing to count, only a cap of zero stops them
            return all(cap.max_contacts > 0 for cap, _ in windows if cap.channel is None or cap.channel == channel)
        for cap, since in windows:
            if cap.channel is not None and cap.channel != channel:
                continue
            made = sum(1 for ch, at in contacts if at > since and (cap.channel is None or ch == cap.channel))
            if made >= cap.max_contacts:
                return False
        return True

    def record(self, lead_id: int, channel: str) -> None:
        self.contacts[lead_id].append((channel, self.run_at))
