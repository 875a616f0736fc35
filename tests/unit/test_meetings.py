from datetime import datetime, timedelta, timezone

import pytest

from include.campaigns.domain.meeting_slots import (
    UnknownTimezone, WorkingHours, book, is_free, next_free_slot, zone,
)

UTC = timezone.utc
HOURS = WorkingHours()
MX = zone("America/Mexico_City")  # UTC-6, no DST
HALF_HOURS = WorkingHours(slot_minutes=30)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def test_next_slot_inside_working_hours_in_the_leads_time_zone():
    # Wednesday 10:00 UTC = 04:00 in Mexico City -> 09:00 local = 15:00 UTC, one slot long
    assert next_free_slot(at(25, 10), [], MX, HOURS) == (at(25, 15), at(25, 16))


def test_busy_slots_are_skipped_and_slots_align_to_the_grid():
    busy = [(at(25, 16), at(25, 17))]  # 10:00-11:00 local taken
    assert next_free_slot(at(25, 15, 30), busy, MX, HOURS) == (at(25, 17), at(25, 18))  # 09:30 -> 11:00 local


def test_weekend_and_after_hours_roll_to_monday():
    busy = [(at(27, 23), at(28, 0))]  # Friday 17:00 local, the last slot, taken
    assert next_free_slot(at(27, 23), busy, MX, HOURS) == (at(30, 15), at(30, 16))


def test_thirty_minute_slots_last_thirty_minutes_and_never_overlap():
    busy: list = []
    booked = []
    for _ in range(4):
        start, end = next_free_slot(at(25, 10), busy, MX, HALF_HOURS)
        book(busy, start, end)
        booked.append((start, end))
    assert booked == [(at(25, 15), at(25, 15, 30)), (at(25, 15, 30), at(25, 16)), (at(25, 16), at(25, 16, 30)),
                      (at(25, 16, 30), at(25, 17))]
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(booked, booked[1:]))


def test_a_longer_booking_from_before_a_slot_change_blocks_every_slot_it_covers():
    busy = [(at(25, 15), at(25, 16))]  # a 60-minute meeting booked when slots were 60 minutes
    assert not is_free(busy, at(25, 15, 30), at(25, 16))
    assert next_free_slot(at(25, 10), busy, MX, HALF_HOURS) == (at(25, 16), at(25, 16, 30))


def test_slots_follow_daylight_saving_in_madrid():
    madrid = zone("Europe/Madrid")
    # Friday 27 March 2026 09:00 CET = 08:00 UTC; Monday 30 March 09:00 CEST = 07:00 UTC
    friday = datetime(2026, 3, 27, 17, tzinfo=UTC)  # 18:00 CET: the day is over
    assert next_free_slot(friday, [], madrid, HOURS) == (datetime(2026, 3, 30, 7, tzinfo=UTC),
                                                         datetime(2026, 3, 30, 8, tzinfo=UTC))


def test_an_unknown_time_zone_is_an_error_and_none_is_utc():
    with pytest.raises(UnknownTimezone, match="Mars/Olympus"):
        zone("Mars/Olympus")
    assert zone(None) == zone("UTC")


def test_custom_hours_from_variable_json():
    hours = WorkingHours.from_dict({"weekdays": [5], "start": "10:00", "end": "12:00", "slot_minutes": 30})
    assert next_free_slot(at(25, 0), [], zone("UTC"), hours) == (at(28, 10), at(28, 10) + timedelta(minutes=30))


@pytest.mark.parametrize("bad", [{"slot_minutes": 0}, {"start": "18:00", "end": "09:00"}, {"weekdays": []},
                                 {"weekdays": [7]}, {"slot": 30}])
def test_bad_working_hours_are_refused(bad):
    with pytest.raises(ValueError):
        WorkingHours.from_dict(bad)
