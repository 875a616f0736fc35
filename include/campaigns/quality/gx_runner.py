"""Great Expectations 1.x says what each lead expectation means on PostgreSQL; PostgreSQL applies them.

GX's SQL execution engine turns every expectation into its row condition: the ``<map metric>.condition``
metric GX itself counts and lists unexpected rows with (its null handling, the dialect's regex operator, set
membership, typed parameters). ``reject_conditions`` returns them per reason, and ``reject_statement`` joins
them into one statement, so a run's staged leads are checked in a single scan and only the rejects leave the
server. GX reads nothing but the relation's columns and row count, through the caller's engine. GX is
imported lazily: importing it costs seconds, and DAG parsing must not pay for it.
"""

from __future__ import annotations

import logging
import os
import zoneinfo
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, Select, Text, case, column, func, literal, null, select, table
from sqlalchemy.dialects.postgresql import array
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.visitors import iterate

from include.campaigns.quality.expectations import LEAD_EXPECTATIONS

# Before any GX import: no usage statistics, nothing leaves the machine. GX also logs a few hundred INFO
# lines per context (docs registry, type lookups); a task log needs its warnings only.
os.environ["GX_ANALYTICS_ENABLED"] = "false"
logging.getLogger("great_expectations").setLevel(logging.WARNING)

if TYPE_CHECKING:
    from great_expectations.core.expectation_suite import ExpectationSuite
    from sqlalchemy import ColumnElement

Rules = Sequence[Mapping[str, Any]]
Conditions = list[tuple[str, "ColumnElement[bool]"]]
VALIDATED_RELATION = "run_leads_to_validate"  # migration 0017: every run's staged leads still in play
BATCH_ID = "staged_leads"
TIME_ZONES = sorted(zoneinfo.available_timezones())


class ExpectationError(ValueError):
    """A lead expectation GX cannot turn into a row condition on PostgreSQL: the gate would not check it."""


def suite_parameters(run_at: datetime, pipeline_stages: Sequence[str]) -> dict[str, Any]:
    """The values the expectations take per run (``{"$PARAMETER": name}``)."""
    if run_at.tzinfo is None:
        raise ValueError("run_at must be timezone-aware")
    return {"run_at": run_at, "time_zones": TIME_ZONES, "pipeline_stages": sorted(pipeline_stages)}


def _expectations(rules: Rules, parameters: Mapping[str, Any] | None = None) -> list[Any]:
    import great_expectations.expectations as gxe

    def value(v: Any) -> Any:
        if parameters is not None and isinstance(v, Mapping) and "$PARAMETER" in v:
            return parameters[v["$PARAMETER"]]
        return v

    made = []
    for rule in rules:
        cls = getattr(gxe, rule["expectation"], None)
        if cls is None:
            raise ExpectationError(f"unknown GX expectation {rule['expectation']!r} in the lead expectations")
        if "mostly" in rule["kwargs"]:
            raise ExpectationError(f"{rule['reason']}: 'mostly' has no meaning for a rule that sets rows aside")
        made.append(cls(**{k: value(v) for k, v in rule["kwargs"].items()}, meta={"reason": rule["reason"]}))
    return made


def build_suite(rules: Rules = LEAD_EXPECTATIONS) -> ExpectationSuite:
    """The GX suite of ``rules`` (parameters unresolved); each expectation carries its reason in ``meta``."""
    import great_expectations as gx

    expectations = _expectations(rules)
    # Given to the constructor, not add_expectation(): that one needs a current data context.
    # The constructor logs and drops an expectation it cannot take, so count them.
    suite = gx.ExpectationSuite(name="run_leads_quality", expectations=expectations)
    if len(suite.expectations) != len(expectations):
        raise ExpectationError("GX dropped one of the lead expectations; see its log")
    return suite


def ephemeral_context():
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig, InMemoryStoreBackendDefaults, ProgressBarsConfig,
    )

    # In memory only: no docs site (its temp dir), no progress bars, no analytics.
    return gx.get_context(mode="ephemeral", project_config=DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
        analytics_enabled=False))


def reject_conditions(engine: Engine, run_at: datetime, pipeline_stages: Sequence[str],
                      rules: Rules = LEAD_EXPECTATIONS, relation: str = VALIDATED_RELATION) -> Conditions:
    """(reason, condition true for a row that breaks the rule), per rule, as GX's SQL engine builds them."""
    from great_expectations.execution_engine import SqlAlchemyExecutionEngine
    from great_expectations.execution_engine.sqlalchemy_batch_data import SqlAlchemyBatchData
    from great_expectations.expectations.registry import get_metric_kwargs
    from great_expectations.validator.metric_configuration import MetricConfiguration
    from great_expectations.validator.validator import Validator

    expectations = _expectations(rules, suite_parameters(run_at, pipeline_stages))
    gx_engine = SqlAlchemyExecutionEngine(engine=engine)
    gx_engine.load_batch_data(BATCH_ID, SqlAlchemyBatchData(execution_engine=gx_engine, table_name=relation))
    wanted = []
    for expectation in expectations:
        metric = getattr(expectation, "map_metric", None)
        if not metric:
            raise ExpectationError(f"{expectation.meta['reason']}: {type(expectation).__name__} is not a "
                                   "row-level (map) expectation, so it cannot set a lead aside")
        kwargs = get_metric_kwargs(f"{metric}.condition", expectation.configuration, None)
        wanted.append(MetricConfiguration(f"{metric}.condition", {**kwargs["metric_domain_kwargs"], "batch_id": BATCH_ID},
                                          kwargs["metric_value_kwargs"]))
    validator = Validator(execution_engine=gx_engine, data_context=ephemeral_context())
    resolved, aborted = validator.compute_metrics(wanted, min_graph_edges_pbar_enable=len(wanted) * 100)
    conditions: Conditions = []
    for expectation, config in zip(expectations, wanted):
        reason = expectation.meta["reason"]
        if config.id not in resolved:
            raise ExpectationError(f"{reason}: GX could not build its condition: {_abort_message(config, aborted)}")
        condition = resolved[config.id][0]
        if any(getattr(element, "table", None) is not None for element in iterate(condition)):
            raise ExpectationError(f"{reason}: {type(expectation).__name__} compares rows with each other "
                                   "(a subquery); the one-scan gate checks each row on its own")
        conditions.append((reason, condition))
    return conditions


def _abort_message(config: Any, aborted: Mapping[Any, Any]) -> str:
    """GX's own message for a metric it gave up on (or for the dependency that failed first)."""
    infos = [aborted[config.id]] if config.id in aborted else list(aborted.values())
    for info in infos:
        message = (info.get("exception_info") or {}).get("exception_message")
        if message:
            return str(message).splitlines()[0]  # GX appends the SQL and a link
    return "no metric and no message"


def reject_statement(conditions: Conditions, run_id: str, relation: str = VALIDATED_RELATION) -> Select:
    """lead_id, reasons (in rule order) of every row of ``run_id`` that breaks a rule: one scan."""
    reasons = array([case((condition, literal(reason, Text)), else_=null()) for reason, condition in conditions],
                    type_=Text)
    checked = (select(column("lead_id"), func.array_remove(reasons, null()).label("reasons"))
               .select_from(table(relation)).where(column("run_id") == run_id).subquery("checked"))
    return select(checked.c.lead_id, checked.c.reasons).where(func.cardinality(checked.c.reasons) > 0)


def name_broken_condition(conn: Connection, conditions: Conditions, run_id: str,
                          relation: str = VALIDATED_RELATION) -> None:
    """After the one statement failed: run each condition alone on the same rows, to name the rule at fault."""
    for reason, condition in conditions:
        try:
            with conn.begin_nested():
                conn.execute(select(func.count()).select_from(table(relation))
                             .where(column("run_id") == run_id, condition))
        except DBAPIError as error:
            raise ExpectationError(f"{reason}: PostgreSQL cannot evaluate its condition: "
                                   f"{str(error.orig).splitlines()[0]}") from error
