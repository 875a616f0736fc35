"""Deterministic demo data: brokers, agents, leads, templates, campaigns and a previous snapshot.

Why it is shaped like this:
- One ``random.Random(seed)`` drives everything, consumed in a fixed order, and every timestamp is
  derived from ``reference_time``: the same arguments give byte-identical rows (tests compare md5s).
- Leads are generated lazily and written with COPY in chunks inside one transaction, so a million
  leads load in seconds; the small tables use plain INSERTs.
- The data is made to exercise the engine on its first run: a seeded snapshot one hour old with a few
  stage moves (STAGE_CHANGE fires), first steps with no delay, a missing and an inactive template
  (FA-1), sandbox "unreachable" phones (+1500555…, FA-2), ``max_contacts`` (FA-4) and ~0.5 % of
  malformed leads that validation must reject.
"""

from __future__ import annotations

import itertools
import json
import random
import unicodedata
from datetime import datetime, timedelta, timezone

from sqlalchemy import Engine, text

from include.campaigns.infra.database import copy_rows
from include.campaigns.infra.migrations import truncate_all
from include.campaigns.domain.vocabulary import CHANNELS

STAGES = ("new", "contacted", "qualified", "visit_scheduled", "negotiation", "won", "lost")  # FIXME: per broker

REFERENCE_TIME = datetime(2026, 11, 25, 10, tzinfo=timezone.utc)
SNAPSHOT_RUN_ID = "demo-seed"
MISSING_TEMPLATE_ID = 999_999  # FA-1: referenced by one step of broker 1, never created
UNREACHABLE_PREFIX = "+1500555"  # the sandbox provider's "unreachable number" convention
CHUNK = 50_000

# (name, timezone, country code, national number length, mobile prefix, e-mail domain)
BROKERS = [
    ("Inmobiliaria Casa Azul", "America/Mexico_City", "+52", 10, "55", "casaazul.mx"),
    ("Propiedades Andinas", "America/Bogota", "+57", 10, "3", "propiedadesandinas.co"),
    ("Hogar Ibérico", "Europe/Madrid", "+34", 9, "6", "hogariberico.es"),
    ("Inmuebles del Pacífico", "America/Lima", "+51", 9, "9", "inmueblespacifico.pe"),
    ("Raíces Australes", "America/Santiago", "+56", 9, "9", "raicesaustrales.cl"),
    ("Río de la Plata Propiedades", "America/Argentina/Buenos_Aires", "+54", 10, "11", "rdlpropiedades.com.ar"),
]
FIRST_NAMES = ("José", "María", "Juan", "Guadalupe", "Luis", "Ana", "Carlos", "Sofía", "Jorge", "Valentina",
               "Miguel", "Camila", "Andrés", "Daniela", "Alejandro", "Fernanda", "Diego", "Lucía", "Javier",
               "Isabel", "Ricardo", "Paola", "Fernando", "Mariana", "Sebastián", "Gabriela", "Raúl", "Natalia",
               "Héctor", "Ximena", "Óscar", "Renata", "Martín", "Elena", "Tomás", "Verónica")
LAST_NAMES = ("García", "Hernández", "Martínez", "López", "González", "Rodríguez", "Pérez", "Sánchez",
              "Ramírez", "Torres", "Flores", "Rivera", "Gómez", "Díaz", "Cruz", "Morales", "Reyes", "Ortiz",
              "Gutiérrez", "Chávez", "Ramos", "Vargas", "Castillo", "Jiménez", "Moreno", "Romero", "Herrera",
              "Medina", "Aguilar", "Vega", "Castro", "Muñoz", "Rojas", "Núñez", "Peña", "Ibáñez")
MAIL_DOMAINS = ("gmail.com", "hotmail.com", "outlook.com", "yahoo.com", "icloud.com")
# A funnel: many new leads, few won. Score centres per stage (hot leads score higher).
STAGE_WEIGHTS = {"new": 30, "contacted": 25, "qualified": 15, "visit_scheduled": 10,
                 "negotiation": 7, "won": 5, "lost": 8}
SCORE_MEAN = {"new": 35, "contacted": 48, "qualified": 68, "visit_scheduled": 74,
              "negotiation": 80, "won": 88, "lost": 25}
PREVIOUS_STAGE = {"contacted": ("new",), "qualified": ("contacted",), "visit_scheduled": ("qualified",),
                  "negotiation": ("visit_scheduled",), "won": ("negotiation",),
                  "lost": ("contacted", "qualified", "negotiation")}
MALFORMED = ("score_high", "score_negative", "unknown_stage", "bad_email", "bad_phone", "future_activity")

TEMPLATES = {  # channel -> [(name, subject, body)]: two active, the third inactive
    "whatsapp": [
        ("Saludo WhatsApp", None, "Hola {{ lead.first_name }}, soy {{ agent.full_name }} de {{ broker.name }}. "
         "Vi que te interesan nuestras propiedades, ¿hablamos hoy? Escríbeme o llámame al {{ agent.phone }}."),
        ("Invitación a visita WhatsApp", None, "{{ lead.first_name }}, tenemos opciones nuevas que encajan con lo "
         "que buscas ({{ campaign.name }}). ¿Agendamos una visita esta semana con {{ agent.full_name }}?"),
        ("WhatsApp antiguo (inactiva)", None, "Hola {{ lead.full_name }}, esta promoción de {{ broker.name }} ya terminó."),
    ],
    "sms": [
        ("Recordatorio SMS", None, "{{ broker.name }}: Hola {{ lead.first_name }}, {{ agent.full_name }} tiene "
         "propiedades para ti. Llama al {{ agent.phone }}."),
        ("Reactivación SMS", None, "{{ lead.first_name }}, hace tiempo no sabemos de ti. ¿Sigues buscando casa? "
         "Responde SI y te contactamos. {{ broker.name }}"),
        ("SMS antiguo (inactiva)", None, "{{ broker.name }}: oferta vencida para {{ lead.full_name }}."),
    ],
    "email": [
        ("Bienvenida email", "Tu próxima casa te espera", "Hola {{ lead.full_name }}:\n\nGracias por tu interés en "
         "{{ broker.name }}. Soy {{ agent.full_name }} y te acompañaré en la búsqueda. Puedes llamarme al "
         "{{ agent.phone }}.\n\nSaludos,\n{{ agent.full_name }}"),
        ("Novedades email", "Novedades para ti", "Hola {{ lead.first_name }}:\n\nEn la campaña {{ campaign.name }} "
         "reunimos propiedades que te pueden interesar. Responde este correo y agendamos una visita.\n\n"
         "{{ broker.name }}"),
        ("Boletín antiguo (inactiva)", "Boletín", "Hola {{ lead.first_name }}, este boletín de {{ broker.name }} ya no se envía."),
    ],
}

# Campaign specs: (title, trigger, trigger_config, status, max_contacts, steps); a step is
# (action, delay_hours, template slot 0/1 or "missing"/"inactive" or None, config, conditions).
# A slot given as a dict maps broker 1 to a special slot (FA-1) and everybody else to the default.
CAMPAIGNS = [
    ("Leads calientes", "LEAD_SCORE", {"threshold": 70}, "ACTIVE", 2, [
        ("send_message", 0, 0, {}, {}),
        ("make_call", 2, None, {}, {"has_phone": {"eq": True}}),
        ("send_message", 24, 1, {}, {}),
        ("schedule_meeting", 48, None, {}, {"score": {"gte": 80}}),
    ]),
    ("Bienvenida a calificados", "STAGE_CHANGE", {"to_stage": "qualified"}, "ACTIVE", None, [
        ("send_message", 0, {1: "inactive", None: 0}, {}, {}),
        ("schedule_meeting", 0, None, {}, {"has_agent": {"eq": True}}),
        ("update_stage", 0, None, {"stage": "visit_scheduled"}, {"has_agent": {"eq": True}}),
        ("send_message", 24, 1, {}, {"score": {"gte": 60}}),
    ]),
    ("Reactivación de inactivos", "INACTIVITY", {"days": 14}, "ACTIVE", 3, [
        ("send_message", 0, {1: "missing", None: 1}, {}, {}),
        ("update_stage", 0, None, {"stage": "contacted"}, {"stage": {"eq": "new"}}),
        ("make_call", 24, None, {}, {"days_inactive": {"gte": 30}}),
        ("send_message", 48, 0, {}, {}),
        ("send_message", 48, 1, {}, {}),
    ]),
    ("Contacto manual del agente", "MANUAL", {}, "ACTIVE", None, [
        ("make_call", 0, None, {}, {}),
        ("send_message", 0, 0, {}, {"has_phone": {"eq": True}}),
        ("schedule_meeting", 24, None, {}, {}),
    ]),
]
BROKER1_EXTRA = [
    ("Preventa Torre Norte", "LEAD_SCORE", {"threshold": 85}, "PAUSED", 2, [
        ("send_message", 0, 0, {}, {"has_email": {"eq": True}}),
        ("make_call", 24, None, {}, {}),
        ("schedule_meeting", 48, None, {}, {"stage": {"in": ["qualified", "visit_scheduled"]}}),
    ]),
    ("Boletín mensual (borrador)", "INACTIVITY", {"days": 30}, "DRAFT", None, [
        ("send_message", 0, 1, {}, {}),
        ("update_stage", 24, None, {"stage": "lost"}, {"days_inactive": {"gte": 90}}),
        ("send_message", 48, 0, {}, {}),
    ]),
]
CHANNEL_LABEL = {"whatsapp": "WhatsApp", "sms": "SMS", "email": "Email"}


def _ascii(s: str) -> str:
    return unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode().lower()


_FIRST = [(n, _ascii(n)) for n in FIRST_NAMES]
_LAST = [(n, _ascii(n)) for n in LAST_NAMES]
_STAGES = list(STAGES)
_STAGE_CUM = list(itertools.accumulate(STAGE_WEIGHTS[s] for s in _STAGES))


def _phone(rng: random.Random, broker: tuple) -> str:
    _, _, cc, length, prefix, _ = broker
    digits = length - len(prefix)
    return f"{cc}{prefix}{int(rng.random() * 10 ** digits):0{digits}d}"


def _max_id(conn, table: str) -> int:
    return conn.execute(text(f"SELECT coalesce(max(id), 0) FROM {table}")).scalar_one()


def generate_demo(engine: Engine, *, leads: int, brokers: int = 3, seed: int = 6, reset: bool = True,
                  reference_time: datetime = REFERENCE_TIME) -> dict[str, int]:
    """Load the demo data set (replacing everything when ``reset``); return the rows written per table."""
    if not 1 <= brokers <= len(BROKERS):
        raise ValueError(f"brokers must be between 1 and {len(BROKERS)}")
    if leads < 0:
        raise ValueError("leads must be >= 0")
    if reset:
        truncate_all(engine)
    rng = random.Random(seed)
    ref = reference_time
    counts: dict[str, int] = {}
    with engine.begin() as conn:
        # With reset=False the new rows go after the existing ones (ids are explicit for CRM tables).
        b0, a0, l0, t0 = (_max_id(conn, t) for t in ("brokers", "agents", "leads", "message_templates"))
        broker_ids = [b0 + i + 1 for i in range(brokers)]
        conn.execute(text("INSERT INTO brokers (id, name, timezone) VALUES (:id, :name, :tz)"),
                     [{"id": bid, "name": BROKERS[i][0], "tz": BROKERS[i][1]} for i, bid in enumerate(broker_ids)])
        counts["brokers"] = brokers

        agents: list[dict] = []
        agents_of: dict[int, list[int]] = {}
        for i, bid in enumerate(broker_ids):
            for _ in range(rng.randint(4, 6)):
                (fn, fa), (ln, la) = rng.choice(_FIRST), rng.choice(_LAST)
                agents.append({"id": a0 + len(agents) + 1, "broker_id": bid, "full_name": f"{fn} {ln}",
                               "email": f"{fa}.{la}@{BROKERS[i][5]}", "phone": _phone(rng, BROKERS[i])})
                agents_of.setdefault(bid, []).append(agents[-1]["id"])
        conn.execute(text("INSERT INTO agents (id, broker_id, full_name, email, phone) "
                          "VALUES (:id, :broker_id, :full_name, :email, :phone)"), agents)
        counts["agents"] = len(agents)

        templates: list[dict] = []
        slots: dict[tuple[int, str], list[int]] = {}  # (broker, channel) -> [active0, active1, inactive]
        for bid in broker_ids:
            for channel in CHANNELS:
                for k, (name, subject, body) in enumerate(TEMPLATES[channel]):
                    templates.append({"id": t0 + len(templates) + 1, "broker_id": bid, "channel": channel,
                                      "name": name, "subject": subject, "body": body, "is_active": k < 2})
                    slots.setdefault((bid, channel), []).append(templates[-1]["id"])
        conn.execute(text("INSERT INTO message_templates (id, broker_id, channel, name, subject, body, is_active) "
                          "VALUES (:id, :broker_id, :channel, :name, :subject, :body, :is_active)"), templates)
        counts["message_templates"] = len(templates)

        counts["campaigns"] = counts["campaign_steps"] = 0
        for i, bid in enumerate(broker_ids):
            specs = CAMPAIGNS + (BROKER1_EXTRA if i == 0 else [])
            for c, (title, trigger, tconf, status, max_contacts, steps) in enumerate(specs):
                channel = CHANNELS[(c + i) % len(CHANNELS)]
                created = ref - timedelta(days=30 - c, hours=i)
                cid = conn.execute(text(
                    "INSERT INTO campaigns (broker_id, name, channel, trigger_type, trigger_config, status,"
                    " max_contacts, created_at, updated_at) VALUES (:b, :n, :ch, :t, CAST(:tc AS jsonb), :s, :m,"
                    " :at, :at) RETURNING id"),
                    {"b": bid, "n": f"{title} - {CHANNEL_LABEL[channel]}", "ch": channel, "t": trigger,
                     "tc": json.dumps(tconf), "s": status, "m": max_contacts, "at": created}).scalar_one()
                rows = []
                for n, (action, delay, slot, config, conditions) in enumerate(steps, start=1):
                    if isinstance(slot, dict):
                        slot = slot.get(i + 1, slot[None])
                    if slot is None:
                        tpl = None
                    elif slot == "missing":
                        tpl = MISSING_TEMPLATE_ID
                    else:
                        tpl = slots[(bid, channel)][2 if slot == "inactive" else slot]
                    rows.append({"c": cid, "n": n, "a": action, "d": delay, "t": tpl,
                                 "co": json.dumps(conditions), "cf": json.dumps(config)})
                conn.execute(text(
                    "INSERT INTO campaign_steps (campaign_id, step_number, action, delay_hours, message_template_id,"
                    " conditions, config) VALUES (:c, :n, :a, :d, :t, CAST(:co AS jsonb), CAST(:cf AS jsonb))"), rows)
                counts["campaigns"] += 1
                counts["campaign_steps"] += len(rows)

        lead_cols = ("id", "broker_id", "full_name", "email", "phone", "stage", "score", "last_activity_at",
                     "assigned_agent_id", "do_not_contact", "timezone", "updated_at")
        snap_cols = ("lead_id", "broker_id", "stage", "score", "last_activity_at", "updated_at", "email", "phone",
                     "captured_at", "run_id")
        counts["leads"] = counts["lead_snapshots"] = 0
        lead_iter = _leads(rng, leads, l0, broker_ids, agents_of, ref)
        while chunk := list(itertools.islice(lead_iter, CHUNK)):
            counts["leads"] += copy_rows(conn, "leads", lead_cols, (row for row, _ in chunk))
            counts["lead_snapshots"] += copy_rows(conn, "lead_snapshots", snap_cols,
                                                  (snap for _, snap in chunk if snap is not None))
    return counts


def _leads(rng: random.Random, n: int, first_id: int, broker_ids: list[int], agents_of: dict[int, list[int]],
           ref: datetime):
    """Yield (lead row, snapshot row or None) for ``n`` leads, round-robin over the brokers."""
    r = rng.random
    captured = ref - timedelta(hours=1)
    n_brokers = len(broker_ids)
    for k in range(n):
        lead_id = first_id + k + 1
        bi = k % n_brokers
        bid, broker = broker_ids[bi], BROKERS[bi]
        fn, fa = _FIRST[int(r() * len(_FIRST))]
        ln, la = _LAST[int(r() * len(_LAST))]
        ln2 = _LAST[int(r() * len(_LAST))][0]
        email = f"{fa}.{la}{int(r() * 1000)}@{MAIL_DOMAINS[int(r() * len(MAIL_DOMAINS))]}" if r() < 0.85 else None
        phone = _phone(rng, broker) if r() < 0.90 else None
        if r() < 0.02:
            phone = UNREACHABLE_PREFIX + f"{int(r() * 10000):04d}"
        x = r() * _STAGE_CUM[-1]
        stage = next(s for s, c in zip(_STAGES, _STAGE_CUM) if x < c)
        score = min(100, max(0, int(rng.gauss(SCORE_MEAN[stage], 15))))
        last = None if r() < 0.05 else ref - timedelta(seconds=int(60 * 86400 * r() ** 2))
        agents = agents_of[bid]
        agent = agents[int(r() * len(agents))] if r() < 0.90 else None
        dnc = r() < 0.03
        updated = last if last is not None else ref - timedelta(days=1 + int(r() * 90))
        snap = None
        if r() < 0.005:  # malformed on purpose: validation must reject it
            kind = MALFORMED[int(r() * len(MALFORMED))]
            if kind == "score_high":
                score = 150
            elif kind == "score_negative":
                score = -5
            elif kind == "unknown_stage":
                stage = "zombie"
            elif kind == "bad_email":
                email = f"{fa}.{la}.sin-arroba.{MAIL_DOMAINS[0]}"
            elif kind == "bad_phone":
                phone = "12ab"
            else:
                last = updated = ref + timedelta(days=3 + int(r() * 30))
        elif r() < 0.90:  # seen by an earlier run: ~5 % of these were in another stage then
            prev = stage
            if stage in PREVIOUS_STAGE and r() < 0.07:
                options = PREVIOUS_STAGE[stage]
                prev = options[int(r() * len(options))]
            snap = (lead_id, bid, prev, score, last, updated, email, phone, captured, SNAPSHOT_RUN_ID)
        yield (lead_id, bid, f"{fn} {ln} {ln2}", email, phone, stage, score, last, agent, dnc, broker[1], updated), snap
