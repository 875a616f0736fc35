"""``/api/v1/docs`` works offline: the Swagger UI page and every asset it names come from the server itself.

Checked on the app as tests serve it (prefix ``/api/v1``) and mounted under ``/api/v1`` the way the Airflow
plugin mounts it (``prefix=""``, ``root_path``); the real ``airflow api-server`` is checked by
``tests/test_readme_session.py``.
"""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient

from include.campaigns.api import create_app

URL_IN_PAGE = re.compile(r"""(?:src|href)=["']([^"']+)["']|url:\s*'([^']+)'""")


def referenced_urls(html: str) -> list[str]:
    return [a or b for a, b in URL_IN_PAGE.findall(html)]


def assert_docs_self_contained(client: TestClient, docs: str) -> None:
    page = client.get(docs)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    urls = referenced_urls(page.text)
    assert any(u.endswith("swagger-ui-bundle.js") for u in urls) and any(u.endswith(".css") for u in urls), urls
    assert not [u for u in urls if "//" in u], f"the page loads something from another host: {urls}"
    kinds = {".js": "javascript", ".css": "text/css", ".png": "image/png", ".json": "application/json"}
    for url in urls:
        r = client.get(url)
        assert r.status_code == 200 and r.content, (url, r.status_code)
        expected = next((v for k, v in kinds.items() if url.endswith(k)), None)
        assert expected is None or expected in r.headers["content-type"], (url, r.headers["content-type"])
    assert any(u.endswith("/api/v1/openapi.json") for u in urls), urls


def test_the_docs_page_and_its_assets_come_from_the_app(client):
    assert_docs_self_contained(client, "/api/v1/docs")


def test_mounted_like_the_airflow_plugin_the_urls_carry_the_mount_prefix():
    mount = "/api/v1"
    parent = FastAPI()
    parent.mount(mount, create_app(prefix=""))  # what Airflow does with plugins' fastapi_apps
    with TestClient(parent) as client:
        assert_docs_self_contained(client, f"{mount}/docs")
        assert client.get(f"{mount}/openapi.json").json()["info"]["title"] == "Campaign engine admin API"
