"""The words synthetic data is made of: broker profiles, their pipelines, names, templates.

Stages are each broker's own (``pipeline_stages``), so the generator never speaks of a stage by its word:
it speaks of a *role* in a sales funnel (``ROLES``) and each vocabulary says which of its words plays it.
A vocabulary without a word for a role lends that role its nearest neighbour (earlier first): in
``lead, nurture, visit, offer, closed_won, closed_lost`` "qualified" is ``nurture``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

ROLES = ("entry", "contacted", "qualified", "visit", "negotiation", "won", "lost")
FUNNEL = (30, 25, 15, 10, 7, 5, 8)  # share of leads per role: many new leads, few won
SCORE_MEAN = (35, 48, 68, 74, 80, 88, 25)  # hot leads score higher
# The role a lead had before its current one (a lead is lost after contact, qualification or negotiation).
PREVIOUS_ROLES = {"contacted": ("entry",), "qualified": ("contacted",), "visit": ("qualified",),
                  "negotiation": ("visit",), "won": ("negotiation",),
                  "lost": ("contacted", "qualified", "negotiation")}


@dataclass(frozen=True)
class Vocabulary:
    """A broker's stage words in pipeline order, each with its role; ``stored`` = rows in ``pipeline_stages``."""

    key: str
    words: tuple[tuple[str, str], ...]  # (stage, role)
    stored: bool = True

    @property
    def stages(self) -> tuple[str, ...]:
        return tuple(stage for stage, _ in self.words)

    @cached_property
    def by_role(self) -> dict[str, str]:
        """Role -> this vocabulary's word; a missing role takes its nearest neighbour in ROLES, earlier first."""
        own = {role: stage for stage, role in self.words}
        out = {}
        for i, role in enumerate(ROLES):
            for distance in range(len(ROLES)):
                near = [r for r in (ROLES[i - distance] if i - distance >= 0 else None,
                                    ROLES[i + distance] if i + distance < len(ROLES) else None) if r in own]
                if near:
                    out[role] = own[near[0]]
                    break
        return out


def _full(key: str, *stages: str) -> Vocabulary:
    return Vocabulary(key, tuple(zip(stages, ROLES)))


VOCABULARIES = {
    "es": _full("es", "nuevo", "contactado", "calificado", "visita_agendada", "negociacion", "ganado", "perdido"),
    "short": Vocabulary("short", (("lead", "entry"), ("nurture", "contacted"), ("visit", "visit"),
                                  ("offer", "negotiation"), ("closed_won", "won"), ("closed_lost", "lost"))),
    # A broker with no pipeline rows: its CRM stores free text, and every non-empty stage is valid.
    "free_text": Vocabulary("free_text", tuple(zip(
        ("Nuevo contacto", "Llamado", "Interesado", "Visitó la propiedad", "Ofertó", "Compró", "No interesado"),
        ROLES)), stored=False),
    "pt": _full("pt", "novo", "em_contato", "qualificado", "visita", "proposta", "fechado", "descartado"),
    "en": _full("en", "new", "contacted", "qualified", "visit_scheduled", "negotiation", "won", "lost"),
    "es_ar": _full("es_ar", "consulta", "contactado", "interesado", "visita", "reserva", "vendido", "descartado"),
}
# Stages no vocabulary has: what a malformed lead of a broker with a pipeline carries.
FOREIGN_STAGES = ("archivado", "on_hold", "pendiente")
# Not IANA zones (validation rejects them as unknown_timezone): typos and offsets a CRM lets through.
UNKNOWN_TIME_ZONES = ("America/Ciudad_de_Mexico", "UTC-05:00", "Europe/Madird")


@dataclass(frozen=True)
class BrokerProfile:
    name: str
    timezone: str
    country_code: str
    national_digits: int  # length of the national number, mobile prefix included
    mobile_prefix: str
    domain: str
    vocabulary: str  # key of VOCABULARIES

    @property
    def phone_prefix(self) -> str:
        return self.country_code + self.mobile_prefix

    @property
    def subscriber_digits(self) -> int:
        return self.national_digits - len(self.mobile_prefix)


# Broker k (0-based) takes profile k % len(PROFILES): the first three already show a full pipeline, a short
# one and none at all.
PROFILES = (
    BrokerProfile("Inmobiliaria Casa Azul", "America/Mexico_City", "+52", 10, "55", "casaazul.mx", "es"),
    BrokerProfile("Propiedades Andinas", "America/Bogota", "+57", 10, "3", "propiedadesandinas.co", "short"),
    BrokerProfile("Hogar Ibérico", "Europe/Madrid", "+34", 9, "6", "hogariberico.es", "free_text"),
    BrokerProfile("Imobiliária Horizonte", "America/Sao_Paulo", "+55", 11, "119", "horizonteimoveis.com.br", "pt"),
    BrokerProfile("Bay Realty Group", "America/Los_Angeles", "+1", 10, "415", "bayrealty.com", "en"),
    BrokerProfile("Río de la Plata Propiedades", "America/Argentina/Buenos_Aires", "+54", 10, "11",
                  "rdlpropiedades.com.ar", "es_ar"),
)

FIRST_NAMES = ("José", "María", "Juan", "Guadalupe", "Luis", "Ana", "Carlos", "Sofía", "Jorge", "Valentina",
               "Miguel", "Camila", "Andrés", "Daniela", "Alejandro", "Fernanda", "Diego", "Lucía", "Javier",
               "Isabel", "Ricardo", "Paola", "Fernando", "Mariana", "Sebastián", "Gabriela", "Raúl", "Natalia",
               "Héctor", "Ximena", "Óscar", "Renata", "Martín", "Elena", "Tomás", "Verónica")
LAST_NAMES = ("García", "Hernández", "Martínez", "López", "González", "Rodríguez", "Pérez", "Sánchez",
              "Ramírez", "Torres", "Flores", "Rivera", "Gómez", "Díaz", "Cruz", "Morales", "Reyes", "Ortiz",
              "Gutiérrez", "Chávez", "Ramos", "Vargas", "Castillo", "Jiménez", "Moreno", "Romero", "Herrera",
              "Medina", "Aguilar", "Vega", "Castro", "Muñoz", "Rojas", "Núñez", "Peña", "Ibáñez")
MAIL_DOMAINS = ("gmail.com", "hotmail.com", "outlook.com", "yahoo.com", "icloud.com")
BOUNCING_DOMAIN = "rebote.invalid"  # the sandbox refuses .invalid domains (FA-2 offline)
UNREACHABLE_PREFIX = "+1500555"  # the sandbox's "unreachable number" (FA-2 offline)

TEMPLATES = {  # channel -> [(name, subject, body)]: slots 0 and 1 active, slot 2 inactive
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
TEMPLATE_SLOTS = 3  # per (broker, channel)
