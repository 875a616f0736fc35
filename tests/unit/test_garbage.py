"""The stages run with the cyclic garbage collector paused, and give it back as they found it."""

from __future__ import annotations

import gc

import pytest

from include.campaigns.engine.stages import Stage
from include.campaigns.infra.garbage import collector_paused


def collector_state() -> bool:
    return gc.isenabled()


def failing_stage() -> None:
    raise RuntimeError("the stage failed")


def test_the_collector_is_paused_inside_and_restored_after_even_on_an_error():
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():  # nested: the outer block decides
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_a_collector_disabled_before_stays_disabled():
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_loaded_stage_runs_with_the_collector_paused():
    stage = Stage("probe", "finish", f"{__name__}:collector_state", "")
    assert stage.load()() is False
    assert gc.isenabled()
    with pytest.raises(RuntimeError, match="the stage failed"):
        Stage("probe", "finish", f"{__name__}:failing_stage", "").load()()
    assert gc.isenabled()
