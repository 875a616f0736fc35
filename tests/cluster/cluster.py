"""A real CeleryExecutor deployment on this machine, the way README "Production" describes it.

Metadata database and Celery result backend in a fresh database of the PostgreSQL on 127.0.0.1:5432, the campaign
data in another one, Redis on 127.0.0.1:6379 as the broker, and the processes of a deployment: api-server,
scheduler, dag-processor, triggerer and two ``airflow celery worker``s with distinct Celery hostnames. Everything
it creates carries one token (database names, the Celery queue, the prefix of every Redis key), so sessions
sharing these servers never see each other's work, and ``stop()`` removes all of it.

Every process runs in its own session (process group); a worker's task processes put themselves in groups of
their own, so stopping or killing a worker takes its whole process tree, like a machine that dies.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import psycopg
from psycopg import sql

from include.campaigns.infra.paths import PROJECT_ROOT

PG_HOST, PG_PORT, REDIS_PORT = "127.0.0.1", 5432, 6379
PG_ADMIN = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/postgres"
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
DAG_ID = "campaign_executor"
ADMIN_PASSWORD = "cluster-admin-pass"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unreachable() -> str | None:
    """Why the cluster cannot run here (None = PostgreSQL and Redis on 127.0.0.1 answer)."""
    try:
        psycopg.connect(PG_ADMIN, connect_timeout=3).close()
    except psycopg.Error as exc:
        return f"PostgreSQL on {PG_HOST}:{PG_PORT} (user postgres) is not reachable: {exc}".strip()
    import redis

    try:
        redis.Redis(host="127.0.0.1", port=REDIS_PORT, socket_timeout=3).ping()
    except redis.RedisError as exc:
        return f"Redis on 127.0.0.1:{REDIS_PORT} is not reachable: {exc}"
    return None


def kill_tree(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    """Signal a process started with ``start_new_session``: its group and every descendant in other groups."""
    try:
        family = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    for target in (proc.pid, *(p.pid for p in family)):
        try:
            os.killpg(target, sig) if target == proc.pid else os.kill(target, sig)
        except (ProcessLookupError, PermissionError):
            pass
    if sig == signal.SIGKILL:
        psutil.wait_procs(family, timeout=10)


@dataclass
class Process:
    name: str
    proc: subprocess.Popen
    log: Path

    def tail(self, n: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else "(no log)"

    def stop(self) -> None:
        if self.proc.poll() is None:
            kill_tree(self.proc, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        kill_tree(self.proc, signal.SIGKILL)  # whatever is left, task processes included
        if self.proc.poll() is None:
            self.proc.wait(timeout=10)


@dataclass
class Cluster:
    workers: tuple[str, ...] = ("w1", "w2")
    concurrency: int = 1  # one chunk per worker at a time, so both workers take part
    heartbeat_timeout: int = 20
    token: str = field(default_factory=lambda: f"cl{os.getpid()}x{secrets.token_hex(4)}")
    redis_db: int = int(os.environ.get("CAMPAIGNS_CLUSTER_REDIS_DB", "13"))
    processes: dict[str, Process] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix=f"campaigns-{self.token}-"))
        self.home = self.root / "airflow"
        self.home.mkdir()
        self.meta_db, self.data_db = f"campaigns_{self.token}_meta", f"campaigns_{self.token}_data"
        self.port, self.trigger_log_port = free_port(), free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.key_prefix = f"{self.token}:"
        self.data_url = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{self.data_db}"
        self.meta_url = f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{self.meta_db}"
        self._http: httpx.Client | None = None

    # -- the environment every process of the deployment shares (README "Production") -------------
    def env(self) -> dict[str, str]:
        passwords = self.home / "passwords.json"
        passwords.write_text(json.dumps({"admin": ADMIN_PASSWORD}))
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.update({
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "PYTHONPATH": str(PROJECT_ROOT),
            "PATH": f"{Path(AIRFLOW).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.meta_url,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_POOL_SIZE": "3",
            "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{REDIS_PORT}/{self.redis_db}",
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{self.meta_url}",
            "AIRFLOW__CELERY__EXTRA_CELERY_CONFIG": json.dumps({"result_extended": True}),
            "AIRFLOW__CELERY__WORKER_ENABLE_REMOTE_CONTROL": "False",
            "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "21600",
            "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX": self.key_prefix,
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.token,
            "AIRFLOW__API__BASE_URL": self.base_url,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": f"cluster-jwt-{self.token}-{'0123456789abcdef' * 4}",
            "AIRFLOW__API__SECRET_KEY": f"cluster-secret-{self.token}",
            "AIRFLOW__CORE__AUTH_MANAGER":
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(self.heartbeat_timeout),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "3",
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",  # only the runs a case triggers
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self.trigger_log_port),
            "AIRFLOW_CONN_CAMPAIGNS_DB": self.data_url,
        })
        return env

    # -- life cycle ----------------------------------------------------------------------------------
    def create_databases(self) -> None:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            for name in (self.meta_db, self.data_db):
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def migrate(self) -> None:
        done = subprocess.run([AIRFLOW, "db", "migrate"], env=self.env(), cwd=self.home, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, f"airflow db migrate failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"

    def spawn(self, name: str, *args: str, env: dict[str, str] | None = None) -> Process:
        log = self.root / f"{name}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen([AIRFLOW, *args], env=env or self.env(), cwd=self.home, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        self.processes[name] = Process(name, proc, log)
        return self.processes[name]

    def start(self) -> None:
        self.create_databases()
        self.migrate()
        self.spawn("api-server", "api-server", "--workers", "1")
        self.spawn("scheduler", "scheduler")
        self.spawn("dag-processor", "dag-processor")
        self.spawn("triggerer", "triggerer")
        for name in self.workers:
            self.start_worker(name)
        self.wait_until(self.api_up, 120, "the api-server to answer")
        self.wait_until(self.dag_loaded, 120, f"{DAG_ID} to be parsed by the dag-processor")
        for name in self.workers:
            self.wait_until(lambda n=name: "ready." in self.processes[n].tail(20000), 120, f"worker {name}")

    def start_worker(self, name: str) -> Process:
        # --skip-serve-logs: two workers on one host would both bind the log server's port
        return self.spawn(name, "celery", "worker", "--celery-hostname", f"{name}@%h", "--queues", self.token,
                          "--concurrency", str(self.concurrency), "--skip-serve-logs", "--without-mingle",
                          "--without-gossip", env={**self.env(), "CLUSTER_WORKER": name})

    def stop(self) -> None:
        if self._http is not None:
            self._http.close()
        for process in self.processes.values():  # all at once: warm shutdowns overlap
            if process.proc.poll() is None:
                kill_tree(process.proc, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in self.processes.values():
            try:
                process.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for process in self.processes.values():
            process.stop()
        import redis

        r = redis.Redis(host="127.0.0.1", port=REDIS_PORT, db=self.redis_db)
        for key in list(r.scan_iter(match=f"{self.key_prefix}*", count=1000)) + [self.token]:
            r.delete(key)
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            for name in (self.meta_db, self.data_db):
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        shutil.rmtree(self.root, ignore_errors=True)

    def kill(self, name: str) -> None:
        """SIGKILL a worker and every process it started: the machine is gone."""
        process = self.processes[name]
        kill_tree(process.proc)
        process.proc.wait(timeout=10)

    # -- waiting and the REST API ------------------------------------------------------------------
    def wait_until(self, predicate, timeout: float, what: str, interval: float = 0.5, allow_dead=()):
        deadline = time.monotonic() + timeout
        while True:
            for p in self.processes.values():
                if p.name not in allow_dead and p.proc.poll() is not None:
                    raise AssertionError(f"{p.name} exited with {p.proc.returncode} while waiting for {what}:\n"
                                         f"{p.tail()}")
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                logs = "\n".join(f"--- {p.name}\n{p.tail(2500)}" for p in self.processes.values())
                raise AssertionError(f"gave up waiting for {what} after {timeout:g} s\n{logs}")
            time.sleep(interval)

    def api_up(self) -> bool:
        try:
            return httpx.get(f"{self.base_url}/api/v2/monitor/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    @property
    def http(self) -> httpx.Client:
        if self._http is None:
            r = httpx.post(f"{self.base_url}/auth/token", json={"username": "admin", "password": ADMIN_PASSWORD},
                           timeout=30)
            assert r.status_code == 201, r.text
            self._http = httpx.Client(base_url=self.base_url, timeout=30,
                                      headers={"Authorization": f"Bearer {r.json()['access_token']}"})
        return self._http

    def api(self, method: str, path: str, **kwargs) -> dict:
        r = self.http.request(method, f"/api/v2{path}", **kwargs)
        assert r.status_code < 300, f"{method} {path}: {r.status_code} {r.text}"
        return r.json() if r.content else {}

    def dag_loaded(self) -> bool:
        r = self.http.get(f"/api/v2/dags/{DAG_ID}")
        if r.status_code == 200:
            return True
        errors = self.http.get("/api/v2/importErrors").json().get("import_errors", [])
        assert not errors, f"import errors: {errors}"
        return False

    def set_connection(self, conn_id: str, extra: dict) -> None:
        body = {"connection_id": conn_id, "conn_type": "generic", "extra": json.dumps(extra)}
        r = self.http.patch(f"/api/v2/connections/{conn_id}", json=body)
        if r.status_code == 404:
            r = self.http.post("/api/v2/connections", json=body)
        assert r.status_code < 300, r.text

    def set_variable(self, key: str, value: str) -> None:
        r = self.http.patch(f"/api/v2/variables/{key}", json={"key": key, "value": value})
        if r.status_code == 404:
            r = self.http.post("/api/v2/variables", json={"key": key, "value": value})
        assert r.status_code < 300, r.text

    def set_pool(self, name: str, slots: int) -> None:
        body = {"name": name, "slots": slots, "include_deferred": False}
        r = self.http.patch(f"/api/v2/pools/{name}", json=body)
        if r.status_code == 404:
            r = self.http.post("/api/v2/pools", json=body)
        assert r.status_code < 300, r.text

    def wait_for_run(self, run_id: str, timeout: float, allow_dead=()) -> dict:
        def finished():
            run = self.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}")
            return run if run["state"] in ("success", "failed") else None

        return self.wait_until(finished, timeout, f"DAG run {run_id}", interval=1, allow_dead=allow_dead)

    def task_instances(self, run_id: str) -> list[dict]:
        return self.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances", params={"limit": 1000})[
            "task_instances"]

    def celery_tasks(self) -> list[dict]:
        """What the result backend recorded (``result_extended``): which Celery worker ran which try."""
        with psycopg.connect(self.meta_url.replace("+psycopg", "")) as conn:
            rows = conn.execute("SELECT task_id, status, worker, args FROM celery_taskmeta").fetchall()
        out = []
        for celery_id, status, worker, args in rows:
            workload = json.loads(json.loads(bytes(args))[0]) if args else {}
            ti = workload.get("ti", {})
            out.append({"celery_id": celery_id, "status": status, "worker": (worker or "").split("@")[0],
                        "task_id": ti.get("task_id"), "map_index": ti.get("map_index"),
                        "try_number": ti.get("try_number"), "run_id": ti.get("run_id")})
        return out
