"""Hostile templates: reaching Python internals, looping for ever, building huge values, recursing.

Each must fail its own step only, quickly, with a clear reason -- in the main thread and in a worker
thread alike -- and the rest of the run goes on.
"""

from __future__ import annotations

import gc
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from include.campaigns.templates import RENDER_TIME_BUDGET_SECONDS, process_quarantine
from include.campaigns.templates.render import STRIKES_BEFORE_QUARANTINE
from include.campaigns.templates import TemplateRenderError, render, template_context
from tests.factories import T0, add_broker, add_campaign, add_lead, add_template
from tests.reliability.world import log_counter
from tests.support.faults import FAULTS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

CTX = template_context({"id": 1, "full_name": "Ana Pérez", "email": "ana@example.com", "phone": "+525512345678",
                        "stage": "new", "score": 80}, {"id": 2, "name": "Preventa", "channel": "whatsapp"},
                       {"full_name": "Lucía Romero"}, {"id": 1, "name": "Inmobiliaria Sol"})

INTERNALS = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ lead.__class__.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os.system('id') }}",
    "{{ self._TemplateReference__context }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ (lead|attr('__class__')).__base__.__subclasses__() }}",
    "{% set x = lead.update({'score': 100}) %}{{ x }}",
    "{{ '{0.__class__.__mro__}'.format(lead) }}",
    "{{ '{x.__class__}'.format_map({'x': lead}) }}",
]
LOOPS = [  # nested loops and exponential recursion: the time budget
    "{% for i in range(10000) %}{% for j in range(10000) %}{% for k in range(10000) %}{% endfor %}{% endfor %}{% endfor %}",
    "{% set l = range(10000)|list %}{% for a in l %}{% for b in l %}{% for c in l %}{% endfor %}{% endfor %}{% endfor %}",
    "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}",
]
HUGE = [  # values that would take seconds and gigabytes: refused before they are built
    ("{{ 'a' * 10**10 }}", "repeating"),
    ("{{ lead.full_name * 100000 * 100000 }}", "repeating"),
    ("{{ 10 ** (10 ** 10) }}", "integer limit"),
    ("{% for i in range(10**9) %}{% endfor %}", "range of"),
    ("{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
     "a str of"),
    ("{% macro f(s, n) %}{% if n %}{{ f(s ~ s, n - 1) }}{% endif %}{% endmacro %}{{ f('ab', 64) }}", "a str of"),
    ("{{ '%999999999d' % 1 }}", "format width"),
    ("{{ '{:>999999999}'.format(1) }}", "format width"),
    ("{{ lead.full_name.center(10**9) }}", "numeric argument"),
    ("{{ lead.full_name|center(10**9) }}", "numeric argument"),
    ("{{ ('x' * 50000).replace('', 'yy') }}", "replacing"),
    ("{{ (range(10000)|list) * 10000 }}", "repeating"),
    ("{{ lipsum(10**6) }}", "'lipsum' is undefined"),
    ("{% for i in range(10000) %}{{ lead.full_name }}{% endfor %}", "longer than"),
]
RECURSION = ["{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
             "{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}"]


@pytest.fixture(autouse=True)
def _fresh_quarantine():
    process_quarantine().clear()
    yield
    process_quarantine().clear()


HANG_GUARD = 30.0  # seconds: a render that has not stopped by then is stuck (durations are the benchmark's business)


def failure(source: str) -> str:
    started = time.monotonic()
    with pytest.raises(TemplateRenderError) as exc:
        render(source, CTX)
    assert time.monotonic() - started < HANG_GUARD, source
    FAULTS.add("hostile_templates_rendered")
    return str(exc.value)


@pytest.mark.parametrize("source", INTERNALS)
def test_python_internals_are_out_of_reach(source):
    reason = failure(source)
    assert reason.startswith(("unsafe template:", "UndefinedError:")), reason


@pytest.mark.parametrize("source, words", HUGE)
def test_huge_values_are_refused_before_they_are_built(source, words):
    assert words in failure(source)


def test_endless_loops_and_recursion_stop_at_the_time_budget_then_quarantine():
    for source in LOOPS:
        for _ in range(STRIKES_BEFORE_QUARANTINE):
            assert "exceeded the render time budget" in failure(source)  # 0.5 s of CPU, on a busy machine
        assert "quarantined" in failure(source)  # refused before rendering: the rest of the chunk pays nothing
    for source in RECURSION:
        assert "recursion too deep" in failure(source)
    assert render("Hola {{ lead.first_name }}", CTX) == "Hola Ana"  # the process is fine afterwards


def test_the_budget_holds_in_worker_threads_too():
    """Rendering in threads (a thread pool executing chunks): each thread is interrupted on its own."""
    source = LOOPS[0]
    threads_before = threading.active_count()
    with ThreadPoolExecutor(max_workers=3) as pool:
        started = time.monotonic()
        futures = [pool.submit(failure, source) for _ in range(2)]
        futures.append(pool.submit(render, "Hola {{ lead.first_name }}", CTX))
        out = [f.result(timeout=10) for f in futures]
    assert "exceeded the render time budget" in out[0] and "exceeded the render time budget" in out[1]
    assert out[2] == "Hola Ana"
    assert time.monotonic() - started < HANG_GUARD
    deadline = time.monotonic() + 5  # no thread leaked: interrupted renders and their watchdogs end
    while threading.active_count() > threads_before + 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() <= threads_before + 1


def test_lead_data_is_rendered_as_text_never_as_template():
    hostile = dict(CTX, lead=dict(CTX["lead"], first_name="{{ ''.__class__.__mro__ }}"))
    assert render("Hola {{ lead.first_name }}", hostile) == "Hola {{ ''.__class__.__mro__ }}"


def test_a_hostile_template_fails_its_step_only_in_a_real_run(engine, run_dag, invariants):
    add_broker(engine, 1)
    add_template(engine, 10, 1, "whatsapp")
    hostile = {20: INTERNALS[0], 21: LOOPS[0], 22: HUGE[0][0], 23: LOOPS[2], 24: RECURSION[0]}
    for tid, body in hostile.items():
        add_template(engine, tid, 1, "whatsapp", body=body)
    for lead in (1, 2, 3):
        add_lead(engine, lead, score=90, phone=f"+52551234567{lead}")
    campaigns = {tid: add_campaign(engine, name=f"tpl {tid}", trigger_type="LEAD_SCORE",
                                   trigger_config={"threshold": 70}, steps=[
                                       {"action": "send_message", "message_template_id": tid},
                                       {"action": "send_message", "message_template_id": 10}])
                 for tid in hostile}
    started = time.monotonic()
    assert run_dag(T0).state == "success"
    elapsed = time.monotonic() - started
    reasons = {}
    for tid, cid in campaigns.items():
        counts = log_counter(engine, cid)
        assert counts[(2, "SENT", None)] == 3, counts  # the next step goes on
        assert {status for (step, status, _r) in counts if step == 1} == {"FAILED"}, counts
        reasons[tid] = {reason: n for (step, _s, reason), n in counts.items() if step == 1}
    assert reasons[20] == {"render_error: unsafe template: access to attribute '__class__' of 'str' object is unsafe.": 3}
    assert reasons[22] == {"render_error: template too expensive: repeating 1 items/characters 10,000,000,000 times "
                           "(size budget 100,000)": 3}
    assert reasons[24] == {"render_error: template recursion too deep (a macro calling itself?)": 3}
    budget = RENDER_TIME_BUDGET_SECONDS
    for tid in (21, 23):  # two leads pay the budget, the third is failed at once
        assert reasons[tid] == {
            f"render_error: template exceeded the render time budget ({budget:g} s CPU): it loops too long or "
            "recurses too deep": 2,
            f"render_error: template quarantined: it exceeded the render time budget ({budget:g} s CPU) 2 times": 1,
        }, reasons[tid]
    assert elapsed < 40, elapsed
    FAULTS.add("hostile_templates_in_dag_run", len(hostile))
    invariants(at=T0)


def test_a_garbage_collection_during_a_render_is_not_the_templates_time():
    """A full collection of a big process's heap can take more than the budget; it happens in whichever thread
    allocates, often a rendering one. The watchdog leaves that time out (the template did not spend it)."""
    from include.campaigns.templates.watchdog import RenderTimeout

    interrupted: list[bool] = []

    def slow_collection(phase, info):  # stands in for a collection of a heap of millions of objects
        if phase != "start":
            return
        try:
            spent = time.thread_time()
            while time.thread_time() - spent < RENDER_TIME_BUDGET_SECONDS * 1.6:
                pass
        except RenderTimeout:
            interrupted.append(True)
            raise

    class Collects:
        @property
        def value(self):
            gc.collect()
            return "ok"

    gc.callbacks.append(slow_collection)
    try:
        assert render("{{ slow.value }} {{ lead.first_name }}", {**CTX, "slow": Collects()}) == "ok Ana"
    finally:
        gc.callbacks.remove(slow_collection)
    assert interrupted == []
    assert "exceeded the render time budget" in failure(LOOPS[0])  # the template's own time still counts
