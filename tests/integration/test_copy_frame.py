"""copy_frame reads query rows through COPY: a NULL, an empty string and look-alike texts must stay apart."""

from __future__ import annotations

import math

import pandas as pd

from include.campaigns.infra.database import copy_frame

QUERY = """
SELECT * FROM (VALUES
    (1, 'visita',  '',     '\\N',  '2026-03-29 01:30:00+00'::timestamptz, 7.5),
    (2, NULL,      'NULL', 'a,b',  NULL,                                    NULL),
    (3, 'línea "1"', E'x\\ny', ' ', '2026-10-25 00:59:59.123456+00'::timestamptz, -5)
) AS t(lead_id, stage, email, phone, last_activity_at, score)
WHERE lead_id >= %(first)s
ORDER BY lead_id
"""


def test_nulls_empty_strings_and_look_alikes_stay_apart(engine):
    with engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL TimeZone = 'America/Sao_Paulo'")  # the session zone must not matter
        frame = copy_frame(conn, QUERY, {"first": 1}, numbers=("lead_id", "score"), timestamps=("last_activity_at",))
    assert frame["lead_id"].tolist() == [1.0, 2.0, 3.0]
    assert frame.loc[0, "stage"] == "visita" and pd.isna(frame.loc[1, "stage"]) and frame.loc[2, "stage"] == 'línea "1"'
    assert frame["email"].tolist() == ["", "NULL", "x\ny"]
    assert frame["phone"].tolist() == ["\\N", "a,b", " "]
    assert frame["last_activity_at"].dtype == "datetime64[us, UTC]" or str(frame["last_activity_at"].dt.tz) == "UTC"
    assert frame.loc[0, "last_activity_at"] == pd.Timestamp("2026-03-29 01:30:00", tz="UTC")
    assert pd.isna(frame.loc[1, "last_activity_at"])
    assert frame.loc[2, "last_activity_at"] == pd.Timestamp("2026-10-25 00:59:59.123456", tz="UTC")
    assert frame.loc[0, "score"] == 7.5 and math.isnan(frame.loc[1, "score"]) and frame.loc[2, "score"] == -5.0


def test_the_query_parameters_are_bound(engine):
    with engine.begin() as conn:
        frame = copy_frame(conn, QUERY, {"first": 3}, numbers=("lead_id",))
    assert frame["lead_id"].tolist() == [3.0]
