"""The REST API on the database several WebUIs share: everything works the same on PostgreSQL, two WebUIs' APIs see
one library (a stale update from one is refused after the other saved), and a database that is away is a 503 with
the reason, never a 500 and never the password."""

from __future__ import annotations

import io
import time
from dataclasses import replace

import pytest
from PIL import Image

from tests.api.conftest import Txt2ImgBase, make_api

UNREACHABLE = "postgresql://someone:hunter2@127.0.0.1:1/nowhere?connect_timeout=2"


def test_a_library_whose_database_is_away_answers_503_with_the_reason(settings):
    api = make_api_lazily(replace(settings, database_url=UNREACHABLE))
    for method, path, body in [
        ("get", "/templates", None),
        ("get", "/templates/portrait", None),
        ("post", "/templates", {"name": "cat", "prompt": "a cat"}),
        ("post", "/render", {"template": "portrait"}),
        ("get", "/export", None),
    ]:
        answer = api.client.request(method, f"/prompt-templates/v1{path}", json=body)
        assert answer.status_code == 503, (path, answer.text)
        detail = answer.json()["detail"]
        assert "127.0.0.1" in detail and "hunter2" not in detail, detail


def test_jobs_whose_database_is_away_answer_503(settings):
    api = make_api_lazily(replace(settings, database_url=UNREACHABLE))
    answer = api.client.get("/prompt-templates/v1/jobs")
    assert answer.status_code == 503 and "hunter2" not in answer.text, answer.text


@pytest.mark.postgres
def test_two_webuis_on_one_database_share_the_library(tmp_path, settings, pg_url):
    one = make_api(replace(settings, database_url=pg_url), Txt2ImgBase)
    other_settings = replace(settings, library_path=tmp_path / "other" / "templates.sqlite3", database_url=pg_url)
    other = make_api(other_settings, Txt2ImgBase)
    base = "/prompt-templates/v1"
    created = one.client.post(f"{base}/templates", json={"name": "cat", "prompt": "a {black|white} cat"})
    assert created.status_code == 201, created.text
    seen = other.client.get(f"{base}/templates/cat")
    assert seen.status_code == 200 and seen.json()["prompt"] == "a {black|white} cat"

    update = {"name": "cat", "prompt": "a {black|white|grey} cat", "version": 1}
    assert other.client.put(f"{base}/templates/cat", json=update).status_code == 200
    stale = one.client.put(f"{base}/templates/cat", json={**update, "prompt": "a dog"})  # read version 1 too
    assert stale.status_code == 409 and "version 2" in stale.json()["detail"]
    rendered = one.client.post(f"{base}/render", json={"template": "cat", "batch_size": 3, "seed": 1})
    assert rendered.status_code == 200, rendered.text
    assert {p.split()[1] for p in rendered.json()["prompts"]} <= {"black", "white", "grey"}


@pytest.mark.postgres
def test_a_job_made_on_one_webui_is_read_whole_from_another(tmp_path, settings, pg_url):
    """Submitted to one API, run by that WebUI's worker, its images fetched from the other WebUI, which never had
    them on its disk: they come from the database."""
    one = make_api(replace(settings, database_url=pg_url), Txt2ImgBase)
    other_settings = replace(settings, library_path=tmp_path / "other" / "templates.sqlite3", database_url=pg_url)
    other = make_api(other_settings, Txt2ImgBase)
    base = "/prompt-templates/v1"
    submitted = one.client.post(f"{base}/jobs", json={"prompt": "a {red|blue} ball", "batch_size": 2, "seed": 5})
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["id"]
    jobs = one.service.jobs()
    jobs.start()
    try:
        job = wait_until_finished(other, job_id)
    finally:
        jobs.stop()
    assert job["status"] == "succeeded" and job["worker"], job
    for index, prompt in enumerate(job["prompts"]):
        image = other.client.get(f"{base}/jobs/{job_id}/images/{index}")
        assert image.status_code == 200 and image.headers["content-type"] == "image/png"
        assert Image.open(io.BytesIO(image.content)).format == "PNG"
        assert prompt in ("a red ball", "a blue ball")
    archive = other.client.get(f"{base}/jobs/{job_id}/images")
    assert archive.status_code == 200 and archive.content[:2] == b"PK"
    assert other.client.delete(f"{base}/jobs/{job_id}").status_code == 204  # deleted through the other WebUI
    assert one.client.get(f"{base}/jobs/{job_id}").status_code == 404
    assert one.client.get(f"{base}/jobs/{job_id}/images/0").status_code == 404


def wait_until_finished(api, job_id: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = api.client.get(f"/prompt-templates/v1/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def make_api_lazily(settings):
    """The API over a database that cannot be reached: the routes are mounted all the same (the library is opened
    at the first request that needs it), as when a WebUI starts while its database server is down."""
    try:
        return make_api(settings, Txt2ImgBase)
    except Exception as exc:  # pragma: no cover - the point of the test
        raise AssertionError(f"mounting the API must not need the database: {exc!r}") from exc
