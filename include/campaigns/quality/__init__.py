"""Data quality of the CRM's leads: the expectations (data, ``expectations.py``), run by Great Expectations
(``gx_runner.py``) on each run's staged leads (``validate.py``)."""
