"""The error answers routes document in the OpenAPI schema."""

from __future__ import annotations

from include.campaigns.api.schemas.common import ErrorOut, ValidationErrorOut

_ERR = {"model": ErrorOut}
AUTH = {401: {**_ERR, "description": "No, invalid or expired token"},
        403: {**_ERR, "description": "Not an Airflow admin, or not an admin of that broker"}}
NOT_FOUND = {404: {**_ERR, "description": "Campaign (or lead, or step) not found for the caller's brokers"}}
CONFLICT = {409: {**_ERR, "description": "Not allowed in the campaign's current status"}}
INVALID = {422: {"model": ValidationErrorOut, "description": "Invalid input (each invalid field is named)"}}
UNAVAILABLE = {503: {**_ERR, "description": "Campaign database or Airflow DAG unavailable"}}
