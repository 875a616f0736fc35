# The project's production image: the official Apache Airflow image (what the official Helm chart runs, see
# deploy/helm/) plus this project. It cannot be built or pushed from the development machines (no image registry
# is reachable there); docs/production.md says how to build it, and what was checked on paper.
#
#   docker build -t registry.example.com/campaign-engine:1.0.0 .
#
# Astronomer: the same project layout works on Astro Runtime -- replace FROM with the Runtime image for Airflow
# 3.3 and drop the `pip install` line (the Runtime's ONBUILD steps install requirements.txt and packages.txt).
# No OS package is needed (psycopg and the PostgreSQL client tools come as wheels), so there is no packages.txt.
FROM apache/airflow:slim-3.3.2-python3.11

# Every package pinned (requirements.txt is the whole resolved set, apache-airflow==3.3.2 and the Celery provider
# included), so the image's Airflow is neither upgraded nor downgraded.
COPY --chown=airflow:root requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir -r /tmp/requirements.txt

# The Astronomer layout at AIRFLOW_HOME (/opt/airflow): dags/ and plugins/ where Airflow looks by default,
# include/ and rules/ importable through PYTHONPATH, airflow_settings.yaml for `campaigns settings load`.
COPY --chown=airflow:root dags/ /opt/airflow/dags/
COPY --chown=airflow:root plugins/ /opt/airflow/plugins/
COPY --chown=airflow:root include/ /opt/airflow/include/
COPY --chown=airflow:root rules/ /opt/airflow/rules/
COPY --chown=airflow:root airflow_settings.yaml /opt/airflow/airflow_settings.yaml
ENV PYTHONPATH=/opt/airflow \
    AIRFLOW__CORE__LOAD_EXAMPLES=False

# The project's `campaigns` command (db upgrade, admins grant, stats), as the venv's entry point runs it.
USER root
RUN printf '#!/bin/sh\nexec python -m include.campaigns.devtools.cli "$@"\n' > /usr/local/bin/campaigns \
 && chmod 0755 /usr/local/bin/campaigns
USER airflow
