"""Where the project lives, and the Airflow environment the README documents for it."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[3]


def airflow_env_defaults() -> dict[str, str]:
    """The environment the README documents for running Airflow on this project."""
    return {
        "AIRFLOW_HOME": str(PROJECT_ROOT / ".airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PYTHONPATH": str(PROJECT_ROOT),
    }


def apply_airflow_env_defaults() -> None:
    """Fill in the documented Airflow environment where the caller left it unset."""
    for key, value in airflow_env_defaults().items():
        os.environ.setdefault(key, value)
