"""A bounded fuzz pass over the OpenAPI schema (schemathesis): no 5xx, and every response matches the schema."""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import negative_data_rejection, positive_data_acceptance
from sqlalchemy import text

from include.campaigns.api import create_app
from tests.api.conftest import API, FakeValidator, RecordingTrigger

AUTH = {"Authorization": "Bearer alice-token"}
# Bounded by default (about 10 s, the same examples every run); FUZZ_EXAMPLES=400 FUZZ_RANDOM=1 for a deeper search.
MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))
RANDOM = bool(os.environ.get("FUZZ_RANDOM"))
_engine: dict = {}

# The app resolves its engine on the first request, so the schema can be loaded at import time.
app = create_app(engine=lambda: _engine["engine"], token_validator=FakeValidator(), dag_trigger=RecordingTrigger())
schema = schemathesis.openapi.from_asgi(f"{API}/openapi.json", app)


@pytest.fixture(autouse=True)
def fuzz_data(db):
    """Something for small generated ids to hit: 1 DRAFT with a step, 2 ACTIVE, 3 of another broker, lead 1."""
    _engine["engine"] = db
    with db.begin() as conn:
        conn.execute(text(
            "INSERT INTO campaigns (id, broker_id, name, channel, trigger_type, trigger_config, status) VALUES "
            "(1, 1, 'draft', 'whatsapp', 'MANUAL', '{}', 'DRAFT'), (2, 1, 'active', 'whatsapp', 'MANUAL', '{}', 'ACTIVE'), "
            "(3, 2, 'other broker', 'whatsapp', 'MANUAL', '{}', 'ACTIVE')"))
        conn.execute(text("SELECT setval(pg_get_serial_sequence('campaigns', 'id'), 3)"))
        conn.execute(text(
            "INSERT INTO campaign_steps (campaign_id, step_number, action, message_template_id) VALUES "
            "(1, 1, 'send_message', 11), (2, 1, 'send_message', 11), (3, 1, 'make_call', NULL)"))
        conn.execute(text("INSERT INTO leads (id, broker_id, stage) VALUES (1, 1, 'new')"))


@pytest.mark.timeout(120)
@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=not RANDOM)
def test_no_server_errors_and_responses_match_the_schema(case):
    # Not checked: positive_data_acceptance (schema-valid bodies may still break a rule the schema cannot
    # express: a send_message template that does not exist, a step number that is taken, ...) and
    # negative_data_rejection (the explicit Authorization header undoes "missing header" cases, and unknown
    # query parameters are ignored, as FastAPI does). Everything else: status codes, content types, response
    # bodies and headers must match the schema.
    response = case.call_and_validate(headers=AUTH, excluded_checks=[positive_data_acceptance, negative_data_rejection])
    assert response.status_code < 500, response.text
