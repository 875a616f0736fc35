"""The engine's tunables as the DAG reads them from Airflow Variables (``engine/settings.py``)."""

from __future__ import annotations

import pytest

from include.campaigns.engine.settings import EngineSettings


def test_unset_variables_keep_the_defaults_and_set_ones_are_read():
    assert EngineSettings.from_variables(lambda name: None) == EngineSettings()
    values = {"campaigns_max_chunks": "8", "campaigns_parallel_chunks": "2"}
    settings = EngineSettings.from_variables(values.get)
    assert (settings.max_chunks, settings.min_chunk_size, settings.parallel_chunks) == (8, 2000, 2)


@pytest.mark.parametrize("variable, value, message", [
    ("campaigns_parallel_chunks", "two", "Airflow Variable campaigns_parallel_chunks: invalid value 'two'"),
    ("campaigns_parallel_chunks", "0", "campaigns_parallel_chunks must be >= 1"),
    ("campaigns_min_chunk_size", "-5", "campaigns_min_chunk_size"),
])
def test_a_bad_value_is_an_error_naming_the_variable(variable, value, message):
    with pytest.raises(ValueError, match=message):
        EngineSettings.from_variables({variable: value}.get)
