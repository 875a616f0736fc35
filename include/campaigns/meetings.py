"""Meeting slots: the next free slot of an agent inside working hours, in the lead's time zone."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@dataclass(frozen=True)
class WorkingHours:
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4)  # Monday = 0
    start: time = time(9, 0)
    end: time = time(18, 0)
    slot_minutes: int = 60

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> WorkingHours:
        return cls(
            weekdays=tuple(int(x) for x in d.get("weekdays", (0, 1, 2, 3, 4))),
            start=time.fromisoformat(d.get("start", "09:00")),
            end=time.fromisoformat(d.get("end", "18:00")),
            slot_minutes=int(d.get("slot_minutes", 60)),
        )


def zone(name: str | None) -> ZoneInfo:
    """The lead's time zone; UTC when it is missing or unknown."""
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def next_free_slot(after: datetime, busy: set[datetime], tz: ZoneInfo, hours: WorkingHours, max_days: int = 366) -> datetime:
    """Earliest slot start >= ``after`` on a working day, not in ``busy`` (UTC starts); returned in UTC."""
    if not hours.weekdays or hours.slot_minutes <= 0 or hours.end <= hours.start:
        raise ValueError("working hours must have weekdays and a positive, non-empty day")
    local_after = after.astimezone(tz)
    step = timedelta(minutes=hours.slot_minutes)
    day: date = local_after.date()
    for _ in range(max_days):
        if day.weekday() in hours.weekdays:
            slot = datetime.combine(day, hours.start, tzinfo=tz)
            day_end = datetime.combine(day, hours.end, tzinfo=tz)
            while slot + step <= day_end:
                utc = slot.astimezone(timezone.utc)
                if slot >= local_after and utc not in busy:
                    return utc
                slot += step
        day += timedelta(days=1)
    raise ValueError(f"no free slot within {max_days} days")
