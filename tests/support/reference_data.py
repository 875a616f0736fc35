"""The CRM world of the 20,000-lead reference test (tests/integration/test_reference.py): four brokers in four
countries, each with its own words for its stages, one of them with no pipeline rows at all (free-text stages),
their agents, templates, campaigns (with quiet hours, goals) and frequency caps, and a generator of leads as real
CRMs export them (varied names and time zones, missing or bouncing addresses, and a few rows that validation must
set aside).

The sweeps straddle the end of European summer time (2026-10-25 01:00 UTC): Madrid is UTC+2 at R0-R3 and UTC+1
at R4 and R5, so R3 and R4, at the same UTC hour, are 15:00 and 14:00 there. Local times of the sweeps:

    zone                          R0     R1     R2     R3     R4     R5
    America/Mexico_City (-6)      03:00  04:00  05:00  07:00  07:00  15:00
    America/Tijuana (PDT -7)      02:00  03:00  04:00  06:00  06:00  14:00
    America/Bogota (-5)           04:00  05:00  06:00  08:00  08:00  16:00
    America/New_York (EDT -4)     05:00  06:00  07:00  09:00  09:00  17:00
    America/Argentina/... (-3)    06:00  07:00  08:00  10:00  10:00  18:00
    Europe/Madrid (CEST/CET)      11:00  12:00  13:00  15:00  14:00  22:00
    Atlantic/Canary (WEST/WET)    10:00  11:00  12:00  14:00  13:00  21:00

Stages are named by role here (``new``, ``contacted``, ``qualified``...) and spelt in each broker's words
(``WORDS``): the campaigns of a broker use its own words, as its admins would.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

T0 = datetime(2026, 10, 24, 10, tzinfo=timezone.utc)  # a Saturday; summer time ends in Europe that night
RUN_TIMES = {"R0": T0 - timedelta(hours=1), "R1": T0, "R2": T0 + timedelta(hours=1),
             "R3": T0 + timedelta(hours=3), "R4": T0 + timedelta(hours=27), "R5": T0 + timedelta(hours=35)}
MISSING_TEMPLATE = 999_999
CHANNELS = ("whatsapp", "sms", "email")

BROKERS = [
    {"id": 1, "name": "Inmobiliaria Casa Azul", "timezone": "America/Mexico_City", "cc": "+5255", "digits": 8,
     "zones": ("America/Mexico_City",) * 6 + ("America/Monterrey", "America/Cancun", "America/Tijuana", None),
     "bad_zone": "America/Mexico City"},
    {"id": 2, "name": "Propiedades Andinas", "timezone": "America/Bogota", "cc": "+573", "digits": 9,
     "zones": ("America/Bogota",) * 6 + ("Etc/GMT+5", "America/New_York", "America/New_York", None),
     "bad_zone": "Bogotá"},
    {"id": 3, "name": "Hogar Ibérico", "timezone": "Europe/Madrid", "cc": "+346", "digits": 8,
     "zones": ("Europe/Madrid",) * 7 + ("Atlantic/Canary", "Africa/Ceuta", None), "bad_zone": "Europe/Madird"},
    {"id": 4, "name": "Inmuebles del Plata", "timezone": "America/Argentina/Buenos_Aires", "cc": "+54911",
     "digits": 8, "zones": ("America/Argentina/Buenos_Aires",) * 6 + (
         "America/Argentina/Cordoba", "America/Argentina/Mendoza", "America/Montevideo", None), "bad_zone": "GMT-3"},
]
NAMES = {  # (first names, surnames) per broker
    1: (("José", "María", "Guadalupe", "Juan Carlos", "Ximena", "Luis", "Fernanda", "Jesús"),
        ("García", "Hernández", "Martínez", "López", "Ramírez", "Cuauhtémoc", "Xochitl", "Núñez")),
    2: (("Andrés", "Valentina", "Santiago", "Camila", "Juan Pablo", "Daniela", "Yeison", "Luz Marina"),
        ("Rodríguez", "Gómez", "Muñoz", "Díaz", "Castaño", "Ospina", "Zuluaga", "Peña")),
    3: (("Jordi", "Montserrat", "Iñaki", "Lucía", "Aitor", "Nerea", "Álvaro", "Begoña"),
        ("Puig", "Etxeberria", "Fernández", "Llorente", "Sánchez", "Ibáñez", "Castellví", "O'Neill")),
    4: (("Facundo", "Agustina", "Martín", "Florencia", "Thiago", "Milagros", "Gonzalo", "Abril"),
        ("Fernández", "Rossi", "González", "Bianchi", "Pereyra", "Álvarez", "Romero", "Ferrari")),
}
ASCII = str.maketrans("áéíóúñÁÉÍÓÚÑ' ", "aeiounAEIOUN__")

# -- stages: roles and each broker's words ------------------------------------------------------------
ROLE_WEIGHTS = {"new": 30, "contacted": 25, "qualified": 15, "visit": 10, "negotiation": 7, "won": 5, "lost": 8,
                "dropped": 4, "paused": 2, "note": 3}
SCORE_MEAN = {"new": 35, "contacted": 48, "qualified": 66, "visit": 74, "negotiation": 80, "won": 88, "lost": 25,
              "dropped": 20, "paused": 55, "note": 45}
FUNNEL_BEFORE = {"contacted": "new", "qualified": "contacted", "visit": "qualified", "negotiation": "visit",
                 "won": "negotiation", "lost": "contacted"}
WORDS = {
    # Mexico: a CRM with snake_case keys; 'en_pausa' is used by the agents before the pipeline has it
    1: {"new": "nuevo", "contacted": "contactado", "qualified": "calificado", "visit": "visita_agendada",
        "negotiation": "negociacion", "won": "ganado", "lost": "perdido", "dropped": "descartado",
        "paused": "en_pausa"},
    # Colombia: no pipeline rows, free text typed by people
    2: {"new": "Nuevo", "contacted": "En seguimiento", "qualified": "Calificado", "visit": "Cita agendada",
        "negotiation": "Negociación", "won": "Cerrado ganado", "lost": "Cerrado perdido", "note": "Llamar en marzo"},
    # Spain: an English-language CRM
    3: {"new": "new", "contacted": "contacted", "qualified": "qualified", "visit": "visit_scheduled",
        "negotiation": "negotiation", "won": "won", "lost": "lost"},
    # Argentina: a shorter pipeline (no negotiation stage; 'visit' is its qualified stage)
    4: {"new": "lead", "contacted": "nurture", "qualified": "visit", "visit": "offer", "won": "closed_won",
        "lost": "closed_lost"},
}
PIPELINES_AT_START = {  # broker 2 has no rows: every non-empty stage is valid
    1: ["nuevo", "contactado", "calificado", "visita_agendada", "negociacion", "ganado", "perdido", "descartado"],
    3: ["new", "contacted", "qualified", "visit_scheduled", "negotiation", "won", "lost"],
    4: ["lead", "nurture", "visit", "offer", "closed_won", "closed_lost"],
}
# before R2, broker 1's CRM team adds 'en_pausa' (its leads become valid) and drops 'descartado' (its leads are
# set aside until someone moves them)
PIPELINE_CHANGES_AT_R2 = {
    1: ["nuevo", "contactado", "calificado", "visita_agendada", "negociacion", "en_pausa", "ganado", "perdido"],
}
FOREIGN_STAGE = {1: "qualified", 3: "calificado", 4: "Calificado"}  # another CRM's word: unknown_stage
ROLE_OF = {(b, stage): role for b, words in WORDS.items() for role, stage in words.items()}


def word(b: int, role: str) -> str:
    """The broker's word for a role (the nearest earlier funnel stage where it has none)."""
    while role not in WORDS[b]:
        role = FUNNEL_BEFORE[role]
    return WORDS[b][role]


# -- campaign options ----------------------------------------------------------------------------------
ORDER = "ALBDEFGHIJCK"  # campaign ids per broker: the two with contacts chained after another step last
HOT = {1: 70, 2: 75, 3: 70, 4: 75}  # campaign A's score threshold
# quiet hours of campaign B (across midnight) and campaign K (across midnight for 1 and 2, daytime for 3 and 4)
NIGHT = {1: ("22:00", "05:00"), 2: ("19:00", "06:00"), 3: ("22:00", "09:00"), 4: ("23:30", "07:30")}
DAY = {1: ("21:00", "07:00"), 2: ("20:00", "07:00"), 3: ("15:00", "17:00"), 4: ("07:00", "09:30")}
# broker -> (channel or None for every channel, max_contacts, per_hours); before R4 broker 4 gets a cap and
# broker 3 drops its own (kept on, broker 3's tight every-channel cap would let the order of a lead's
# campaigns decide which of their R4 and R5 chains gets through)
FREQUENCY_CAPS = {1: [("sms", 1, 2), ("whatsapp", 2, 24)], 2: [("email", 1, 2), ("voice", 1, 24)], 3: [(None, 3, 3)]}
FREQUENCY_CAPS_AT_R4 = {3: [], 4: [("whatsapp", 1, 25)]}


def window(start_end: tuple[str, str]) -> dict[str, str]:
    return {"start": start_end[0], "end": start_end[1]}


def caps(by_broker: dict[int, list[tuple]]) -> list[dict]:
    return [{"broker_id": b, "channel": ch, "max_contacts": m, "per_hours": h}
            for b, rows in sorted(by_broker.items()) for ch, m, h in rows]


# -- templates and campaigns --------------------------------------------------------------------------
def templates_of(b: int) -> list[dict]:
    rows = []
    for k, channel in enumerate(CHANNELS):
        for slot in range(3):
            rows.append({
                "id": b * 100 + k * 3 + slot + 1, "broker_id": b, "channel": channel, "name": f"{channel} {slot}",
                "subject": "Hola {{ lead.first_name }}" if channel == "email" else None,
                "body": ("Hola {{ lead.first_name }}, soy {{ agent.full_name }} de {{ broker.name }}." if slot == 0
                         else "{{ lead.first_name }}: novedades de {{ campaign.name }} para ti, {{ broker.name }}."),
                "is_active": slot < 2,
            })
    rows.append({"id": b * 100 + 50, "broker_id": b, "channel": "whatsapp", "name": "rota", "subject": None,
                 "body": "Hola {{ lead.first_name }}, tu presupuesto es {{ lead.budget }}", "is_active": True})
    return rows


def tpl(b: int, channel: str, slot: int) -> int:
    return b * 100 + CHANNELS.index(channel) * 3 + slot + 1


def step(action, delay, template=None, conditions=None, config=None):
    return {"action": action, "delay_hours": delay, "message_template_id": template,
            "conditions": conditions or {}, "config": config or {}}


def campaigns_of(b: int) -> list[dict]:
    """Per broker: one campaign per archetype, with a status per sweep, in the broker's words. Only the
    'mover' campaign moves stages or reads the stage in its conditions, and the other campaigns' goals are
    stages it never moves a lead into or out of, so no two campaigns of a lead affect each other's stages
    in a run (they do share the broker's frequency caps). Some steps name a stage outside the broker's
    pipeline (inserted by SQL, as the admin API would refuse them): they must fail with unknown_stage.
    No campaign with quiet hours has max_contacts (see test_max_contacts_reached_inside_quiet_hours_...)."""
    ch = lambda k: CHANNELS[(k + b) % 3]  # noqa: E731
    w = lambda role: word(b, role)  # noqa: E731
    active = {"R0": "DRAFT", "R1": "ACTIVE"}
    specs: dict[str, tuple] = {}  # by letter; ids follow ORDER
    # A: hot leads, a call an hour later, a message and a meeting the next day (max 2 contacts)
    c = ch(0)
    specs["A"] = ("Leads calientes", "LEAD_SCORE", {"threshold": HOT[b]}, 2, c, active, [
        step("send_message", 0, tpl(b, c, 0)),
        step("make_call", 1, None, {"has_phone": {"eq": True}}),
        step("send_message", 24, tpl(b, c, 1)),
        step("schedule_meeting", 0, None, {"score": {"gte": 80}}),
    ], {"goal": {"stages": [w("won")]}})
    # B: welcome to qualified leads; FA-1 variants in the first step
    c = ch(1)
    first = {1: tpl(b, c, 2), 2: MISSING_TEMPLATE, 3: tpl(1, c, 0)}.get(b, tpl(b, c, 0))  # inactive/missing/foreign
    specs["B"] = ("Bienvenida a calificados", "STAGE_CHANGE", {"to_stage": w("qualified")}, None, c, active, [
        step("send_message", 0, first),
        step("schedule_meeting", 0, None, {"has_agent": {"eq": True}}),
        step("send_message", 2, tpl(b, c, 1), {"score": {"gte": 60}}),
    ], {"quiet_hours": window(NIGHT[b])})  # a doomed first step (FA-1) waits out the night all the same
    # C: inactive leads; a render error / a wrong-channel template / an inactive call script
    c = "whatsapp" if b in (1, 2) else ch(2)
    first = {1: b * 100 + 50, 2: tpl(b, "sms", 0)}.get(b, tpl(b, c, 0))
    script = tpl(b, c, 2) if b == 3 else tpl(b, "whatsapp", 0)
    specs["C"] = ("Reactivación", "INACTIVITY", {"days": 30}, 3, c, active, [
        step("send_message", 0, first),
        step("make_call", 0, script),
        step("make_call", 3, None, {"days_inactive": {"gte": 40}}),
        step("send_message", 24, tpl(b, c, 1)),
        step("send_message", 0, tpl(b, c, 0), {"has_email": {"eq": True}} if b == 4 else {}),
    ])
    # D: the broker's stage mover; what it moves to 'qualified' the next sweep sees as a stage change.
    # Broker 1's first step names 'en_pausa' before its pipeline has it (FAILED until R2, then fine);
    # broker 4's second step names 'qualified', another CRM's word; brokers 2 and 3 end with a move to a
    # stage they do not have (blank for broker 2, whose pipeline is free text).
    c = ch(3)
    entry = [w("new"), w("contacted")] + (["en_pausa"] if b == 1 else [])
    mover = [
        step("update_stage", 0, None, {"stage": {"in": entry}}, {"stage": w("qualified")}),
        step("send_message", 1, tpl(b, c, 0), {"stage": {"eq": "qualified" if b == 4 else w("qualified")}}),
        step("update_stage", 0, None, {"has_agent": {"eq": True}, "stage": {"not_in": [w("won"), w("lost")]}},
             {"stage": w("visit")}),
        step("schedule_meeting", 0, None, {"stage": {"eq": w("visit")}}),
    ]
    if b in (2, 3):
        mover.append(step("update_stage", 0, None, None, {"stage": {2: "  ", 3: "closing"}[b]}))
    # Brokers 1 and 4 make the visit stage its goal: its own move there ends the enrolment before the meeting.
    specs["D"] = ("Calificación automática", "LEAD_SCORE", {"threshold": 85}, None, c, active, mover,
                  {"goal": {"stages": [w("visit")]}} if b in (1, 4) else {})
    # E: manual only: never runs in a sweep
    c = ch(4)
    specs["E"] = ("Contacto manual", "MANUAL", {}, None, c, active, [
        step("make_call", 0), step("send_message", 0, tpl(b, c, 0)),
    ])
    # F: paused at R2, resumed at R3 (its 1-hour step then runs late and meets max_contacts 1)
    c = ch(5)
    # (a goal reached while it is paused ends the enrolment when it resumes)
    specs["F"] = ("Preventa", "LEAD_SCORE", {"threshold": 80}, 1, c,
                  {"R0": "DRAFT", "R1": "ACTIVE", "R2": "PAUSED", "R3": "ACTIVE"}, [
        step("send_message", 0, tpl(b, c, 0)),
        step("send_message", 1, tpl(b, c, 1)),
        step("schedule_meeting", 0),
    ], {"goal": {"stages": [w("won"), w("lost")]}})
    # G: a DRAFT activated at R3: every unchanged lead must be evaluated against it; its call is due at R4
    specs["G"] = ("Boletín", "INACTIVITY", {"days": 14}, None, "email", {"R0": "DRAFT", "R3": "ACTIVE"}, [
        step("send_message", 0, tpl(b, "email", 0)),
        step("make_call", 24, None, {"days_inactive": {"gte": 20}}),
    ])
    # H: archived at R3: its 2-hour step never runs
    c = ch(7)
    specs["H"] = ("Seguimiento contactados", "STAGE_CHANGE", {"to_stage": w("contacted")}, None, c,
                  {"R0": "DRAFT", "R1": "ACTIVE", "R3": "ARCHIVED"}, [
        step("send_message", 0, tpl(b, c, 0)),
        step("send_message", 2, tpl(b, c, 1)),
    ])
    if b == 4:  # I: max_contacts 0: the meeting runs, the first contact stops the enrolment
        specs["I"] = ("Solo citas", "LEAD_SCORE", {"threshold": 90}, 0, "sms", active, [
            step("schedule_meeting", 0), step("send_message", 0, tpl(b, "sms", 0)), step("schedule_meeting", 0),
        ])
    if b == 1:  # J: a DRAFT that would match nearly everybody
        specs["J"] = ("Borrador", "LEAD_SCORE", {"threshold": 5}, None, "sms", {"R0": "DRAFT"}, [
            step("send_message", 0, tpl(b, "sms", 0)),
        ])
    # K: a meeting, then a message (zero delay: after a non-contact step it meets the window), a call an hour
    # after the message really went, a last message 8 hours after the call (R4 -> R5; broker 3's calls go at
    # R2, its last message 30 hours later: R5 too); quiet hours across midnight (brokers 1, 2) or in the day
    # (3: from 15:00, which R3 is before the change of time and R4 is not; 4: from 07:00)
    c = ch(8)
    specs["K"] = ("Buenos días", "LEAD_SCORE", {"threshold": 78 if b % 2 else 74}, None, c, active, [
        step("schedule_meeting", 0),
        step("send_message", 0, tpl(b, c, 0)),
        step("make_call", 1),
        step("send_message", 30 if b == 3 else 8, tpl(b, c, 1)),
    ], {"quiet_hours": window(DAY[b])})
    # L: a reminder on A's channel to (nearly) A's leads, at once: the broker's cap lets one of the two through
    c = ch(0)
    specs["L"] = ("Recordatorio", "LEAD_SCORE", {"threshold": HOT[b] + 5}, None, c, active, [
        step("send_message", 0, tpl(b, c, 1)),
        step("send_message", 2, tpl(b, c, 0)),
    ])
    return [{"broker_id": b, "name": name, "trigger_type": trig, "trigger_config": cfg, "max_contacts": mc,
             "channel": channel, "schedule": sched, "steps": steps,
             "quiet_hours": (options[0] if options else {}).get("quiet_hours"),
             "goal": (options[0] if options else {}).get("goal")}
            for name, trig, cfg, mc, channel, sched, steps, *options in (specs[k] for k in ORDER if k in specs)]


def status_at(schedule: dict, run: str) -> str:
    status = "DRAFT"
    for r in RUN_TIMES:
        status = schedule.get(r, status)
        if r == run:
            return status
    raise KeyError(run)


# -- leads --------------------------------------------------------------------------------------------------
def make_lead(rng: random.Random, lead_id: int, broker: dict, agents: list[int]) -> dict:
    b = broker["id"]
    first, last = NAMES[b]
    fn, ln, ln2 = rng.choice(first), rng.choice(last), rng.choice(last)
    roles = [r for r in ROLE_WEIGHTS if r in WORDS[b]]
    role = rng.choices(roles, weights=[ROLE_WEIGHTS[r] for r in roles])[0]
    r = rng.random()
    email = None
    if r < 0.84:
        email = f"{fn.translate(ASCII).lower()}.{ln.translate(ASCII).lower()}{lead_id}@correo.com"
    elif r < 0.86:
        email = f"{fn.translate(ASCII).lower()}{lead_id}@rebote.invalid"  # valid, but the provider bounces it
    r = rng.random()
    phone = None
    if r < 0.88:
        phone = broker["cc"] + f"{rng.randrange(10 ** broker['digits']):0{broker['digits']}d}"
    elif r < 0.90:
        phone = f"+1500555{rng.randrange(10000):04d}"  # the sandbox's unreachable numbers
    last_activity = None if rng.random() < 0.05 else T0 - timedelta(seconds=int(60 * 86400 * rng.random() ** 2))
    return {
        "id": lead_id, "broker_id": b, "full_name": f"{fn} {ln} {ln2}", "email": email, "phone": phone,
        "stage": WORDS[b][role], "score": min(100, max(0, int(rng.gauss(SCORE_MEAN[role], 15)))),
        "last_activity_at": last_activity, "assigned_agent_id": rng.choice(agents) if rng.random() < 0.9 else None,
        "do_not_contact": rng.random() < 0.03, "timezone": rng.choice(broker["zones"]),
        "updated_at": T0 - timedelta(days=2, minutes=rng.randrange(60 * 24 * 30)),
    }


def malformation(rng: random.Random, kind: str, lead: dict) -> dict:
    """The columns that make ``lead`` a row validation must set aside, for one kind of problem."""
    b = lead["broker_id"]
    if kind == "unknown_stage":  # a word of another CRM; blank where the broker has no pipeline
        return {"stage": FOREIGN_STAGE[b]} if b in FOREIGN_STAGE else {"stage": rng.choice(["", "   "])}
    if kind == "unknown_timezone":
        return {"timezone": BROKERS[b - 1]["bad_zone"]}
    return {"score_high": {"score": 150}, "score_negative": {"score": -5}, "score_missing": {"score": None},
            "bad_email": {"email": "sin-arroba.correo.com"}, "bad_phone": {"phone": "12ab"},
            "future_activity": {"last_activity_at": T0 + timedelta(hours=2)},  # rejected until R3, valid from R3 on
            }[kind]


MALFORMATIONS = ("score_high", "score_negative", "score_missing", "unknown_stage", "unknown_timezone", "bad_email",
                 "bad_phone", "future_activity")
