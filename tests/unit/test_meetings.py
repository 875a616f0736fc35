from datetime import datetime, timezone

from include.campaigns.meetings import WorkingHours, next_free_slot, zone

UTC = timezone.utc
HOURS = WorkingHours()
MX = zone("America/Mexico_City")  # UTC-6, no DST


def test_next_slot_inside_working_hours_in_the_leads_time_zone():
    # Wednesday 10:00 UTC = 04:00 in Mexico City -> 09:00 local = 15:00 UTC
    after = datetime(2026, 11, 25, 10, tzinfo=UTC)
    assert next_free_slot(after, set(), MX, HOURS) == datetime(2026, 11, 25, 15, tzinfo=UTC)


def test_busy_slots_are_skipped_and_slots_align_to_the_grid():
    after = datetime(2026, 11, 25, 15, 30, tzinfo=UTC)  # 09:30 local -> next grid slot 10:00 local
    busy = {datetime(2026, 11, 25, 16, tzinfo=UTC)}
    assert next_free_slot(after, busy, MX, HOURS) == datetime(2026, 11, 25, 17, tzinfo=UTC)


def test_weekend_and_after_hours_roll_to_monday():
    friday_evening = datetime(2026, 11, 27, 23, tzinfo=UTC)  # 17:00 local Friday, last slot 17:00 taken
    busy = {datetime(2026, 11, 27, 23, tzinfo=UTC)}
    assert next_free_slot(friday_evening, busy, MX, HOURS) == datetime(2026, 11, 30, 15, tzinfo=UTC)


def test_unknown_time_zone_falls_back_to_utc():
    assert zone("Mars/Olympus") == zone(None) == zone("UTC")


def test_custom_hours_from_variable_json():
    hours = WorkingHours.from_dict({"weekdays": [5], "start": "10:00", "end": "12:00", "slot_minutes": 30})
    got = next_free_slot(datetime(2026, 11, 25, tzinfo=UTC), set(), zone("UTC"), hours)
    assert got == datetime(2026, 11, 28, 10, tzinfo=UTC)  # the Saturday
