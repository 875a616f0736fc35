"""Data quality of the CRM's leads: the expectations (data, ``expectations.py``), turned into row conditions by
Great Expectations' SQL engine (``gx_runner.py``) and checked in PostgreSQL on each run's staged leads
(``validate.py``)."""
