"""Why a service said no. ``api/errors.py`` maps each kind to its HTTP status."""

from __future__ import annotations


class ServiceError(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(ServiceError):
    """The thing does not exist for the caller's brokers."""


class Conflict(ServiceError):
    """Not allowed in the current state (a status, an existing step)."""


class Forbidden(ServiceError):
    """The caller may not act for that broker."""


class InvalidField(ServiceError):
    """An input value breaks a rule that needs the database to check (a template, a broker's stage)."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail if detail.startswith(f"{field}: ") else f"{field}: {detail}")
        self.field = field


def not_found(what: str, ident: int) -> NotFound:
    return NotFound(f"{what} {ident} not found")
