"""The quiet-hours window arithmetic (``campaign_quiet_at``, the one definition the plan, the chunk and the
preview share), on PostgreSQL: [start, end) in the lead's local wall-clock time, across midnight, across DST."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

NIGHT = {"start": "21:00", "end": "09:00"}  # crosses midnight
LUNCH = {"start": "13:00", "end": "15:00"}


def quiet(engine, window, at: str, tz: str | None) -> bool:
    with engine.connect() as c:
        return c.execute(text("SELECT campaign_quiet_at(CAST(:q AS jsonb), CAST(:at AS timestamptz), :tz)"),
                         {"q": json.dumps(window) if window else None, "at": at, "tz": tz}).scalar_one()


@pytest.mark.parametrize("at, expected", [
    ("2026-11-25T23:59:00Z", False),  # 20:59 in Buenos Aires (UTC-3, no DST): 21:00 not reached
    ("2026-11-26T00:00:00Z", True),   # 21:00 local: the window starts (inclusive)
    ("2026-11-26T02:59:00Z", True),   # 23:59
    ("2026-11-26T03:00:00Z", True),   # 00:00: across midnight
    ("2026-11-26T11:59:00Z", True),   # 08:59
    ("2026-11-26T12:00:00Z", False),  # 09:00: the window ends (exclusive)
    ("2026-11-25T18:00:00Z", False),  # 15:00
    ("2026-07-01T12:00:00Z", False),  # July: still UTC-3 (no DST in Argentina)
    ("2026-07-01T11:00:00Z", True),
])
def test_a_night_window_across_midnight_in_buenos_aires(engine, at, expected):
    assert quiet(engine, NIGHT, at, "America/Argentina/Buenos_Aires") is expected


@pytest.mark.parametrize("at, expected", [
    ("2026-03-07T13:59:00Z", True),   # Saturday 08:59 EST (UTC-5)
    ("2026-03-07T14:00:00Z", False),  # 09:00 EST
    ("2026-03-08T12:59:00Z", True),   # Sunday, after the spring-forward at 02:00: 08:59 EDT (UTC-4)
    ("2026-03-08T13:00:00Z", False),  # 09:00 EDT: the window ends an hour earlier in UTC
    ("2026-03-08T06:30:00Z", True),   # 01:30 EST, before the change
    ("2026-03-08T07:30:00Z", True),   # 03:30 EDT (02:30 does not exist that night)
    ("2026-11-01T05:30:00Z", True),   # 01:30 EDT, first pass of the repeated hour (fall back)
    ("2026-11-01T06:30:00Z", True),   # 01:30 EST, second pass
    ("2026-11-01T13:59:00Z", True),   # 08:59 EST
    ("2026-11-01T14:00:00Z", False),  # 09:00 EST
    ("2026-11-01T00:59:00Z", False),  # 20:59 EDT, Saturday evening
    ("2026-11-01T01:00:00Z", True),   # 21:00 EDT
])
def test_new_york_across_its_daylight_saving_changes(engine, at, expected):
    assert quiet(engine, NIGHT, at, "America/New_York") is expected


@pytest.mark.parametrize("at, expected", [
    ("2026-03-28T11:59:00Z", False),  # Saturday 12:59 CET (UTC+1)
    ("2026-03-28T12:00:00Z", True),   # 13:00 CET
    ("2026-03-29T11:00:00Z", True),   # Sunday 13:00 CEST (UTC+2): the same local window, an hour earlier in UTC
    ("2026-03-29T13:00:00Z", False),  # 15:00 CEST
    ("2026-10-25T12:00:00Z", True),   # 13:00 CET after the autumn change
    ("2026-10-25T11:59:00Z", False),
])
def test_a_daytime_window_in_madrid_across_its_daylight_saving_changes(engine, at, expected):
    assert quiet(engine, LUNCH, at, "Europe/Madrid") is expected


def test_no_window_and_no_time_zone(engine):
    assert quiet(engine, None, "2026-11-26T03:00:00Z", "America/Bogota") is False
    assert quiet(engine, NIGHT, "2026-11-26T03:00:00Z", None) is True   # UTC when the lead and broker have none
    assert quiet(engine, NIGHT, "2026-11-26T09:00:00Z", None) is False
