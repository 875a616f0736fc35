"""Meeting slots: an agent's next free slot inside working hours, in the lead's time zone.

A slot lasts ``slot_minutes`` and so does the appointment booked in it. ``busy`` holds an agent's booked
``(starts_at, ends_at)`` ranges sorted by start; they never overlap (an exclusion constraint on
``appointments`` guarantees it), so a candidate only has to be checked against the booking before it.
"""

from __future__ import annotations

import bisect
import math
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

    Slots are wall-clock times of the day (09:00, 09:30, ...); a booking that blocks a slot makes the search
    jump to the first slot after it, so a full calendar costs a few steps per booking, not one per slot."""
    step = hours.slot
    per_day = int((datetime.combine(date.min, hours.end) - datetime.combine(date.min, hours.start)) / step)
    day: date = after.astimezone(tz).date()
    for _ in range(max_days):
        if day.weekday() in hours.weekdays:
            found = _first_free_of_day(day, after, busy, tz, hours.start, step, per_day)
            if found is not None:
                return found
        day += timedelta(days=1)
    raise NoFreeSlot(f"agent has no free slot within {max_days} days")


def _slot_index_at(day: date, day_start: time, step: timedelta, local_naive: datetime) -> int:
    """The first slot index whose wall-clock start is at or after ``local_naive`` (on ``day``)."""
    behind = local_naive - datetime.combine(day, day_start)
    return max(0, math.ceil(behind / step))


def _first_free_of_day(day: date, after: datetime, busy: list[tuple[datetime, datetime]], tz: ZoneInfo,
                       day_start: time, step: timedelta, per_day: int) -> tuple[datetime, datetime] | None:
    first = datetime.combine(day, day_start, tzinfo=tz)
    k = _slot_index_at(day, day_start, step, after.astimezone(tz).replace(tzinfo=None))
    while k < per_day:
        local = first + k * step
        start, end = local.astimezone(timezone.utc), (local + step).astimezone(timezone.utc)
        if start < after:  # a daylight-saving day can shift wall-clock against instants: step on
            k += 1
            continue
        i = bisect.bisect_left(busy, (end,))  # bookings starting at or after `end` cannot overlap
        if i == 0 or busy[i - 1][1] <= start:
            return start, end
        blocker_end = busy[i - 1][1].astimezone(tz).replace(tzinfo=None)
        k = max(k + 1, _slot_index_at(day, day_start, step, blocker_end))
    return None


def book(busy: list[tuple[datetime, datetime]], start: datetime, end: datetime) -> None:
    bisect.insort(busy, (start, end))


class AgentCalendar:
    """One agent's bookings while a chunk books meetings for it.

    A chunk books many meetings from the same run time, on the same grid (time zone, working hours): each
    search resumes after the slot the previous one found (slots before it are taken and stay taken), so a
    chunk's bookings for an agent cost about one step each instead of a walk over the whole calendar."""

    def __init__(self, bookings: list[tuple[datetime, datetime]]) -> None:
        self.bookings = sorted(bookings)
        self._resume: dict[tuple, datetime] = {}

    def book_next(self, after: datetime, tz: ZoneInfo, hours: WorkingHours) -> tuple[datetime, datetime]:
        key = (str(tz), after, hours)
        start, end = next_free_slot(max(after, self._resume.get(key, after)), self.bookings, tz, hours)
        book(self.bookings, start, end)
        self._resume[key] = end
        return start, end
