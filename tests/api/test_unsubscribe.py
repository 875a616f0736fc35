"""The signed unsubscribe link every e-mail carries, followed over HTTP: one click (GET) or a mail client's
RFC 8058 one-click POST sets do_not_contact, idempotently; a bad or tampered link is 403 and writes nothing."""

from __future__ import annotations

from sqlalchemy import text

from tests.channels.conftest import PUBLIC, UNSUBSCRIBE_SECRET, set_connection, unsubscribe_links  # noqa: F401  (fixture)


def path_of(url: str) -> str:
    assert url.startswith(PUBLIC)
    return url.removeprefix(PUBLIC)


def state(engine):
    with engine.connect() as c:
        return (c.execute(text("SELECT id FROM leads WHERE do_not_contact ORDER BY id")).scalars().all(),
                c.execute(text("SELECT broker_id, lead_id, channel, provider, provider_ref, from_address, kind "
                               "FROM lead_replies ORDER BY id")).all())


def test_a_link_clicked_twice_unsubscribes_once(db, client_for, unsubscribe_links):
    client = client_for(None)  # a lead, not an admin
    link = path_of(unsubscribe_links.url(101, 7, 2))
    first = client.get(link)
    assert first.status_code == 200 and first.headers["content-type"].startswith("text/html")
    assert "Baja confirmada" in first.text and "Inmo Uno" in first.text
    after = state(db)
    assert after == ([101], [(1, 101, "email", "unsubscribe_link", "101:7:2", "ana@example.com", "unsubscribe")])
    second = client.get(link)
    assert second.status_code == 200 and "Baja confirmada" in second.text
    assert state(db) == after
    assert client.post(link, data={"List-Unsubscribe": "One-Click"}).status_code == 200  # the mail client's POST
    assert state(db) == after


def test_the_one_click_post_alone_unsubscribes(db, client_for, unsubscribe_links):
    r = client_for(None).post(path_of(unsubscribe_links.url(201, 3, 1)), data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 200 and state(db)[0] == [201]


def test_a_tampered_or_foreign_link_is_403_and_writes_nothing(db, client_for, unsubscribe_links, monkeypatch):
    client = client_for(None)
    good = path_of(unsubscribe_links.url(101, 7, 2))
    signature = good.rsplit(".", 1)[1]
    other_lead = good.replace("u1.101.", "u1.102.")  # the signature of lead 101 on lead 102
    flipped = good[:-1] + ("A" if good[-1] != "A" else "B")
    for link in (other_lead, flipped, "/api/v1/unsubscribe/u1.101.7.2", "/api/v1/unsubscribe/garbage",
                 f"/api/v1/unsubscribe/u1.101.7.3.{signature}"):
        r = client.get(link)
        assert r.status_code == 403 and "no es válido" in r.text, link
        assert client.post(link).status_code == 403
    set_connection(monkeypatch, "campaigns_unsubscribe", password=UNSUBSCRIBE_SECRET[::-1], extra={"base_url": PUBLIC})
    assert client.get(good).status_code == 403  # the secret was rotated: old links no longer count
    assert state(db) == ([], [])


def test_a_deleted_lead_gets_the_page_and_nothing_is_written(db, client_for, unsubscribe_links):
    r = client_for(None).get(path_of(unsubscribe_links.url(999, 7, 2)))
    assert r.status_code == 200 and state(db) == ([], [])


def test_without_the_connection_there_are_no_links(db, client_for, unsubscribe_links, monkeypatch):
    link = path_of(unsubscribe_links.url(101, 7, 2))
    monkeypatch.delenv("AIRFLOW_CONN_CAMPAIGNS_UNSUBSCRIBE")
    assert client_for(None).get(link).status_code == 404
    set_connection(monkeypatch, "campaigns_unsubscribe", password="short", extra={"base_url": PUBLIC})
    assert client_for(None).get(link).status_code == 503
    assert state(db) == ([], [])
