"""MANUAL: only through a run with params (an admin's apply-to-lead); sweeps never enrol."""

from __future__ import annotations

from include.campaigns.triggers.base import TriggerConfig, TriggerType


class ManualConfig(TriggerConfig):
    """MANUAL campaigns take no configuration: ``{}``."""


TRIGGER = TriggerType(
    name="MANUAL",
    summary=__doc__.split(": ", 1)[1],
    config_model=ManualConfig,
    config_shape="{}",
    rule=lambda m, config: m.mode == "apply",
    facts={},
    prefilter_sql="true",
    automatic=False,
)
