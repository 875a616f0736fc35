"""Meeting slots: an agent's next free slot inside working hours, in the lead's time zone.

A slot lasts ``slot_minutes`` and so does the appointment booked in it. ``busy`` holds an agent's booked
``(starts_at, ends_at)`` ranges sorted by start; they never overlap (an exclusion constraint on
``appointments`` guarantees it), so a candidate only has to be checked against the booking before it.
"""

from __future__ import annotations

import bisect
import functools
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
        unknown = set(d) - {"weekdays", "start", "end", "slot_minutes"}
        if unknown:
            raise ValueError(f"unknown keys {sorted(unknown)}")
        hours = cls(
            weekdays=tuple(int(x) for x in d.get("weekdays", (0, 1, 2, 3, 4))),
            start=time.fromisoformat(d.get("start", "09:00")),
            end=time.fromisoformat(d.get("end", "18:00")),
            slot_minutes=int(d.get("slot_minutes", 60)),
        )
        if not hours.weekdays or not set(hours.weekdays) <= set(range(7)):
            raise ValueError("weekdays must be a non-empty list of 0 (Monday) .. 6")
        if hours.slot_minutes <= 0 or hours.end <= hours.start:
            raise ValueError("working hours need a positive slot_minutes and end after start")
        return hours

    @property
    def slot(self) -> timedelta:
        return timedelta(minutes=self.slot_minutes)


class UnknownTimezone(ValueError):
    """A time zone name that the IANA database does not know."""


class NoFreeSlot(ValueError):
    """The agent has no free slot within the search horizon."""


def zone(name: str | None) -> ZoneInfo:
    """The named zone; UTC when there is none."""
    if not name:
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UnknownTimezone(f"unknown time zone {name!r}") from None


def is_free(busy: list[tuple[datetime, datetime]], start: datetime, end: datetime) -> bool:
    i = bisect.bisect_left(busy, (end,))  # bookings starting at or after `end` cannot overlap
    return i == 0 or busy[i - 1][1] <= start


def next_free_slot(after: datetime, busy: list[tuple[datetime, datetime]], tz: ZoneInfo, hours: WorkingHours,
                   max_days: int = 366) -> tuple[datetime, datetime]:
    """Earliest free ``(start, end)`` (UTC) with start >= ``after`` on a working day.

    Slots are wall-clock times of the day (09:00, 09:30, ...), computed once per day and zone; a booking
    that blocks a slot makes the search jump to the first slot after it, so a full calendar costs a few
    bisections per booking, not a walk over every slot."""
    day: date = after.astimezone(tz).date()
    for _ in range(max_days):
        if day.weekday() in hours.weekdays:
            slots = day_slots(day, tz, hours)
            k = bisect.bisect_left(slots, (after,))
            while k < len(slots):
                start, end = slots[k]
                i = bisect.bisect_left(busy, (end,))  # bookings starting at or after `end` cannot overlap
                if i == 0 or busy[i - 1][1] <= start:
                    return start, end
                k = max(k + 1, bisect.bisect_left(slots, (busy[i - 1][1],)))  # past the blocking booking
        day += timedelta(days=1)
    raise NoFreeSlot(f"agent has no free slot within {max_days} days")


@functools.lru_cache(maxsize=4096)
def day_slots(day: date, tz: ZoneInfo, hours: WorkingHours) -> list[tuple[datetime, datetime]]:
    """The day's slots ``(start, end)`` in UTC, in order."""
    step = hours.slot
    slot, day_end = datetime.combine(day, hours.start, tzinfo=tz), datetime.combine(day, hours.end, tzinfo=tz)
    out = []
    while slot + step <= day_end:
        out.append((slot.astimezone(timezone.utc), (slot + step).astimezone(timezone.utc)))
        slot += step
    return out


def book(busy: list[tuple[datetime, datetime]], start: datetime, end: datetime) -> None:
    bisect.insort(busy, (start, end))


def merged(bookings: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Sorted, non-overlapping bookings with the back-to-back ones joined: a full day is one interval."""
    out: list[tuple[datetime, datetime]] = []
    for start, end in sorted(bookings):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


class AgentCalendar:
    """One agent's bookings while a chunk books meetings for it.

    The search runs over the bookings merged into busy intervals (a full day is one step, not one per
    meeting). A chunk books many meetings from the same run time, on the same grid (time zone, working
    hours): each search resumes after the slot the previous one found, since slots before it are taken."""

    def __init__(self, bookings: list[tuple[datetime, datetime]]) -> None:
        self.busy = merged(bookings)
        self._resume: dict[tuple, datetime] = {}

    def book_next(self, after: datetime, tz: ZoneInfo, hours: WorkingHours) -> tuple[datetime, datetime]:
        key = (str(tz), after, hours)
        start, end = next_free_slot(max(after, self._resume.get(key, after)), self.busy, tz, hours)
        self._add(start, end)
        self._resume[key] = end
        return start, end

    def _add(self, start: datetime, end: datetime) -> None:
        i = bisect.bisect_left(self.busy, (start,))
        if i > 0 and self.busy[i - 1][1] == start:  # joins the interval before
            i -= 1
            start = self.busy[i][0]
            del self.busy[i]
        if i < len(self.busy) and self.busy[i][0] == end:  # and the one after
            end = self.busy[i][1]
            del self.busy[i]
        self.busy.insert(i, (start, end))
