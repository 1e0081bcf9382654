"""/jobs through FastAPI with the fake generator: submit, follow, fetch, cancel, re-run, idempotency, events."""

from __future__ import annotations

import io
import json
import threading
import time
import zipfile
from dataclasses import replace

import pytest
from PIL import Image

from sd_prompt_templates.api.main import PREFIX
from sd_prompt_templates.jobs.webhooks import WebhookSettings, new_secret
from tests.api.conftest import Txt2ImgBase, make_api, png

WAIT = 20.0


@pytest.fixture
def jobs_api(api):
    yield api
    api.service.close_jobs()


def submit(api, body, **kwargs):
    return api.client.post(f"{PREFIX}/jobs", json=body, **kwargs)


def wait_for(api, job_id, *statuses):
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        job = api.client.get(f"{PREFIX}/jobs/{job_id}").json()
        if job["status"] in statuses:
            return job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} did not become {statuses}: {job}")


def test_a_job_is_answered_at_once_then_made_with_every_image_and_its_prompt(jobs_api):
    response = submit(jobs_api, {"prompt": "a {red|blue} cat", "mode": "combinatorial", "seed": 10, "steps": 5})
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["location"] == f"{PREFIX}/jobs/{job['id']}" == job["url"]
    assert job["status"] == "queued" and job["position"] == 0 and job["images"] == []
    assert job["prompts"] == ["a red cat", "a blue cat"] and job["seeds"] == [10, 11]
    jobs_api.service.jobs().start()
    done = wait_for(jobs_api, job["id"], "succeeded")
    assert done["progress"] == {"images_done": 2, "images_total": 2, "fraction": 1.0, "eta_seconds": 0.0}
    assert done["worker"] and done["finished_at"] and done["position"] is None
    image = jobs_api.client.get(done["images"][1])
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    png_file = Image.open(io.BytesIO(image.content))
    assert png_file.info["parameters"].startswith("a blue cat")  # the infotext, in the PNG
    archive = zipfile.ZipFile(io.BytesIO(jobs_api.client.get(f"{done['url']}/images").content))
    names = archive.namelist()
    assert len([n for n in names if n.endswith(".png")]) == 2 and "prompts.json" in names
    assert [p["prompt"] for p in json.loads(archive.read("prompts.json"))] == ["a red cat", "a blue cat"]


def test_a_bad_template_is_refused_at_submit_and_no_job_is_made(jobs_api):
    bad = submit(jobs_api, {"prompt": "a {red|blue cat"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["line"] == 1
    missing = submit(jobs_api, {"template": "nope"})
    assert missing.status_code == 404 and missing.json()["detail"][0]["loc"] == ["body", "template"]
    too_big = submit(jobs_api, {"prompt": "x", "width": 100_000})
    assert too_big.status_code == 422
    assert jobs_api.client.get(f"{PREFIX}/jobs").json()["jobs"] == []


def test_the_seed_clients_style_works_and_img2img_jobs_keep_their_init_image(jobs_api):
    body = {"kind": "img2img", "init_images": [png("init")], "denoising_strength": 0.4, "prompt": "{a|b} boat"}
    response = jobs_api.client.post(f"{PREFIX}/jobs", data=json.dumps({**body, "mode": "combinatorial"}))
    assert response.status_code == 202, response.text
    jobs_api.service.jobs().start()
    done = wait_for(jobs_api, response.json()["id"], "succeeded")
    assert done["kind"] == "img2img" and done["prompts"] == ["a boat", "b boat"]
    sent = jobs_api.generator.payloads[-1]
    assert sent["init_images"] == [png("init")] and sent["denoising_strength"] == 0.4 and "webhook" not in sent


def test_txt2img_jobs_send_no_img2img_fields_and_unknown_kinds_are_refused(jobs_api):
    response = submit(jobs_api, {"prompt": "x", "init_images": [png("i")], "seed": 1})
    jobs_api.service.jobs().start()
    wait_for(jobs_api, response.json()["id"], "succeeded")
    assert "init_images" not in jobs_api.generator.payloads[-1]
    assert submit(jobs_api, {"prompt": "x", "kind": "upscale"}).status_code == 422


def test_the_same_idempotency_key_makes_one_job_and_another_body_is_a_conflict(jobs_api):
    body = {"prompt": "a cat", "seed": 5}
    first = submit(jobs_api, body, headers={"Idempotency-Key": "k1"})
    again = submit(jobs_api, body, headers={"Idempotency-Key": "k1"})
    assert (first.status_code, again.status_code) == (202, 200)
    assert first.json()["id"] == again.json()["id"]
    other = submit(jobs_api, {**body, "seed": 6}, headers={"Idempotency-Key": "k1"})
    assert other.status_code == 409 and "k1" in other.json()["detail"]
    assert len(jobs_api.client.get(f"{PREFIX}/jobs").json()["jobs"]) == 1
    assert submit(jobs_api, body, headers={"Idempotency-Key": "x" * 300}).status_code == 422


def test_cancel_a_queued_job_delete_a_finished_one_and_unknown_ids_are_404(jobs_api):
    queued = submit(jobs_api, {"prompt": "x"}).json()
    cancelled = jobs_api.client.delete(queued["url"])
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert jobs_api.client.delete(queued["url"]).status_code == 204  # finished now: deleted
    assert jobs_api.client.get(queued["url"]).status_code == 404
    for method, path in (("get", "/jobs/nope"), ("delete", "/jobs/nope"), ("post", "/jobs/nope/rerun")):
        assert getattr(jobs_api.client, method)(PREFIX + path).status_code == 404
    assert jobs_api.client.get(f"{PREFIX}/jobs/nope/images/0").status_code == 404


def test_a_rerun_makes_the_same_prompts_and_seeds_even_after_the_template_changed(jobs_api, portrait):
    first = submit(jobs_api, {"template": "portrait", "count": 2, "seed": 3}).json()
    record = jobs_api.store.get("portrait")
    jobs_api.store.update(
        "portrait", {**record.draft().as_dict(), "prompt": "something else"}, expected_version=record.version
    )
    rerun = jobs_api.client.post(f"{first['url']}/rerun")
    assert rerun.status_code == 202 and rerun.json()["id"] != first["id"]
    assert (rerun.json()["prompts"], rerun.json()["seeds"]) == (first["prompts"], first["seeds"])
    assert rerun.json()["template_version"] == first["template_version"] == 1


def test_the_list_is_newest_first_paged_and_filtered(jobs_api):
    ids = [submit(jobs_api, {"prompt": f"p{i}"}).json()["id"] for i in range(5)]
    jobs_api.client.delete(f"{PREFIX}/jobs/{ids[0]}")
    page = jobs_api.client.get(f"{PREFIX}/jobs", params={"limit": 2}).json()
    assert [j["id"] for j in page["jobs"]] == ids[:2:-1][:2] and page["next_cursor"]
    rest = jobs_api.client.get(f"{PREFIX}/jobs", params={"limit": 10, "cursor": page["next_cursor"]}).json()
    assert [j["id"] for j in rest["jobs"]] == ids[2::-1] and rest["next_cursor"] is None
    queued = jobs_api.client.get(f"{PREFIX}/jobs", params={"status": "queued"}).json()["jobs"]
    assert [(j["id"], j["position"]) for j in queued] == [(ids[4], 3), (ids[3], 2), (ids[2], 1), (ids[1], 0)]
    assert jobs_api.client.get(f"{PREFIX}/jobs", params={"status": "nope"}).status_code == 422
    assert jobs_api.client.get(f"{PREFIX}/jobs", params={"cursor": "x"}).status_code == 422


def test_events_stream_the_job_until_it_ends(jobs_api):
    job = submit(jobs_api, {"prompt": "{a|b|c}", "mode": "combinatorial", "batch_size": 1}).json()
    threading.Timer(0.3, jobs_api.service.jobs().start).start()
    with jobs_api.client.stream("GET", f"{job['url']}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        text = "".join(stream.iter_text())
    events = [block for block in text.split("\n\n") if block.startswith("event:")]
    kinds = [block.split("\n")[0].removeprefix("event: ") for block in events]
    assert kinds[0] == "status" and kinds[-1] == "status"
    last = json.loads(events[-1].split("data: ", 1)[1])
    assert last["status"] == "succeeded" and len(last["images"]) == 3


def test_webhooks_are_checked_at_submit(api, settings):
    no_secret = submit(api, {"prompt": "x", "webhook": {"url": "https://hooks.example.com/x"}})
    assert no_secret.status_code == 422 and "secret" in json.dumps(no_secret.json())
    private = submit(api, {"prompt": "x", "webhook": {"url": "http://127.0.0.1:9/x", "secret": new_secret()}})
    assert private.status_code == 422 and private.json()["detail"][0]["loc"][:2] == ["body", "webhook"]
    bad_event = submit(api, {"prompt": "x", "webhook": {"url": "https://h.example.com", "events": ["job.eaten"]}})
    assert bad_event.status_code == 422
    allowed = make_api(
        replace(settings, webhooks=WebhookSettings(secret=new_secret(), allowed_hosts=("127.0.0.1",))), Txt2ImgBase
    )
    try:
        ok = submit(allowed, {"prompt": "x", "webhook": {"url": "http://127.0.0.1:9/x"}})
        assert ok.status_code == 202, ok.text
    finally:
        allowed.service.close_jobs()
        api.service.close_jobs()


def test_jobs_files_that_cannot_be_opened_are_a_503_with_the_reason(api):
    (api.service.settings().library_path.parent / "jobs.sqlite3").mkdir()  # a folder where the file would be
    for method, path in (("post", "/jobs"), ("get", "/jobs"), ("get", "/jobs/x")):
        kwargs = {"json": {"prompt": "x"}} if method == "post" else {}
        response = getattr(api.client, method)(PREFIX + path, **kwargs)
        assert response.status_code == 503, response.text
        assert response.json()["detail"].startswith("jobs are not available here: ")
    assert api.client.post(f"{PREFIX}/render", json={"prompt": "x"}).status_code == 200  # the rest works on


def test_an_image_removed_from_the_disk_is_a_404(jobs_api):
    job = submit(jobs_api, {"prompt": "x", "seed": 1}).json()
    jobs_api.service.jobs().start()
    done = wait_for(jobs_api, job["id"], "succeeded")
    jobs_api.service.jobs().store.image_path(job["id"], 0).unlink()
    response = jobs_api.client.get(done["images"][0])
    assert response.status_code == 404 and "no longer on the disk" in response.json()["detail"]
