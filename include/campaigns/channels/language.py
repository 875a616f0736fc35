"""The language a call speaks to a lead, guessed from where the lead (else its broker) is.

The CRM has no language column; a time zone is the best hint it gives. Spanish-speaking zones get their
Spanish (Spain, Mexico; the rest of Latin America ``es-US``, Twilio's Latin-American Spanish), Brazil
Portuguese, the United States and the rest English. A channel connection's extra ``language`` overrides the
guess for every call. The tags are those Twilio's ``<Say language=...>`` accepts.
"""

from __future__ import annotations

DEFAULT = "en-US"
_BY_ZONE = {
    "Europe/Madrid": "es-ES", "Atlantic/Canary": "es-ES", "Africa/Ceuta": "es-ES",
    "America/Sao_Paulo": "pt-BR", "America/Fortaleza": "pt-BR", "America/Recife": "pt-BR",
    "America/Bahia": "pt-BR", "America/Manaus": "pt-BR", "America/Belem": "pt-BR",
    "Europe/Lisbon": "pt-PT", "Europe/London": "en-GB", "Europe/Paris": "fr-FR", "Europe/Berlin": "de-DE",
    "Europe/Rome": "it-IT", "America/Montreal": "fr-CA",
    "America/Puerto_Rico": "es-US", "America/Havana": "es-US", "America/Santo_Domingo": "es-US",
}
_MEXICO = ("America/Mexico_City", "America/Monterrey", "America/Merida", "America/Cancun", "America/Chihuahua",
           "America/Ciudad_Juarez", "America/Hermosillo", "America/Mazatlan", "America/Tijuana", "America/Matamoros",
           "America/Bahia_Banderas", "America/Ojinaga")
_LATAM = ("America/Bogota", "America/Lima", "America/Santiago", "America/Caracas", "America/Guayaquil",
          "America/La_Paz", "America/Asuncion", "America/Montevideo", "America/Panama", "America/Costa_Rica",
          "America/Guatemala", "America/El_Salvador", "America/Tegucigalpa", "America/Managua",
          "America/Punta_Arenas", "Pacific/Galapagos")


def language_for(*zones: str | None) -> str:
    """The first zone that says something decides; none of them: English."""
    for tz in zones:
        if not tz:
            continue
        if tz in _BY_ZONE:
            return _BY_ZONE[tz]
        if tz in _MEXICO:
            return "es-MX"
        if tz in _LATAM or tz.startswith("America/Argentina/"):
            return "es-US"
        if tz.startswith(("America/", "US/", "Pacific/Honolulu")):
            return "en-US"
    return DEFAULT
