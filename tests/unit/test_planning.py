from datetime import timedelta

from include.campaigns.engine.due import Step, due_chain
from tests.factories import T0, hours

STEPS = [Step(1, "send_message", 0), Step(2, "make_call", 0), Step(3, "send_message", 24), Step(4, "update_stage", 0)]


def test_zero_delay_steps_chain_in_one_run():
    assert due_chain(0, T0, STEPS, T0) == [1, 2]


def test_a_delayed_step_waits_for_its_delay_after_the_previous_execution():
    assert due_chain(2, T0, STEPS, hours(23.99)) == []
    assert due_chain(2, T0, STEPS, hours(24)) == [3, 4]


def test_late_run_executes_the_step_and_the_next_delay_counts_from_this_run():
    steps = [Step(1, "send_message", 2), Step(2, "make_call", 2)]
    # step 1 was due at T0+2h; a run at T0+10h executes it, and step 2 is due at T0+12h, not T0+4h
    assert due_chain(0, T0, steps, hours(10)) == [1]


def test_first_step_counts_from_enrolment():
    steps = [Step(1, "send_message", 1.5)]
    assert due_chain(0, T0, steps, T0 + timedelta(minutes=89)) == []
    assert due_chain(0, T0, steps, T0 + timedelta(minutes=90)) == [1]


def test_gaps_in_step_numbers_and_finished_enrolments():
    steps = [Step(1, "send_message", 0), Step(5, "make_call", 0)]
    assert due_chain(1, T0, steps, T0) == [5]
    assert due_chain(5, T0, steps, hours(100)) == []
