"""Jobs on the real WebUI: submitted, run by its worker through its own txt2img, followed, cancelled, signed
webhooks, idempotency, and a WebUI killed mid-job that finishes the job after it restarts.

The kill test needs SD_WEBUI_KILL_RESTART: a shell command that kills the WebUI with SIGKILL and starts it again on
the same data directory and port, returning once it answers (the harness's run-suite.sh sets it)."""

from __future__ import annotations

import base64
import io
import os
import subprocess
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from PIL import Image

SMALL = {"steps": 2, "width": 64, "height": 64}
SLOW = {"steps": 12, "width": 128, "height": 128, "batch_size": 1}  # a few seconds an image on a CPU
WAIT = 900.0


def submit(webui, body, **kwargs):
    reply = webui.ours("POST", "/jobs", body, **kwargs)
    assert reply.status in (200, 202), reply.body
    return reply.body


def job(webui, job_id):
    reply = webui.ours("GET", f"/jobs/{job_id}")
    assert reply.status == 200, reply.body
    return reply.body


def wait_until(webui, job_id, done, what, timeout=WAIT):
    deadline = time.monotonic() + timeout
    current = job(webui, job_id)
    while not done(current):
        assert time.monotonic() < deadline, f"job {job_id} never got {what}: {current}"
        time.sleep(0.2)
        current = job(webui, job_id)
    return current


def finished(current):
    return current["status"] in ("succeeded", "failed", "cancelled")


def png_infotext(webui, url):
    status, data = webui.get_bytes(url)
    assert status == 200
    return Image.open(io.BytesIO(data)).info.get("parameters", "")


def test_five_jobs_are_made_one_after_another_with_their_prompts_and_seeds(webui):
    jobs = [
        submit(webui, {"prompt": f"job{i} {{red|blue}} boat", "mode": "combinatorial", "seed": 100 * i, **SMALL})
        for i in range(5)
    ]
    assert all(j["status"] in ("queued", "running") for j in jobs)
    for i, submitted in enumerate(jobs):
        done = wait_until(webui, submitted["id"], finished, "finished")
        assert done["status"] == "succeeded", done
        assert done["prompts"] == [f"job{i} red boat", f"job{i} blue boat"]
        assert done["seeds"] == submitted["seeds"] == [100 * i, 100 * i + 1] and len(done["images"]) == 2
        for url, prompt, seed in zip(done["images"], done["prompts"], done["seeds"], strict=True):
            text = png_infotext(webui, url)
            assert text.split("\n", 1)[0] == prompt and f"Seed: {seed}," in text, text


def test_cancelling_a_queued_and_a_running_job_leaves_another_untouched(webui):
    running = submit(webui, {"prompt": "a slow {cat|dog|fox|owl|elk|yak}", "mode": "combinatorial", **SLOW})
    untouched = submit(webui, {"prompt": "a quick {red|blue} fish", "mode": "combinatorial", "seed": 5, **SMALL})
    # a checkpoint no WebUI has: every WebUI leaves the job (saying why), so it stays queued, whoever else is idle
    lacking = {"override_settings": {"sd_model_checkpoint": "no-such-checkpoint-anywhere"}}
    queued = submit(webui, {"prompt": "never made", **lacking, **SMALL})
    wait_until(webui, running["id"], lambda j: j["progress"]["images_done"] >= 1, "its first image")
    webui.ours("DELETE", f"/jobs/{running['id']}")
    stopped = wait_until(webui, running["id"], finished, "cancelled")
    waiting = wait_until(webui, queued["id"], lambda j: j["waiting"], "a reason to wait", timeout=120)
    assert waiting["status"] == "queued" and "no-such-checkpoint-anywhere" in waiting["waiting"], waiting
    assert webui.ours("DELETE", f"/jobs/{queued['id']}").body["status"] == "cancelled"
    assert stopped["status"] == "cancelled" and 1 <= stopped["progress"]["images_done"] < 6
    assert len(stopped["images"]) == stopped["progress"]["images_done"]  # the images made before are kept
    done = wait_until(webui, untouched["id"], finished, "finished")
    assert done["status"] == "succeeded" and len(done["images"]) == 2
    assert job(webui, queued["id"])["progress"]["images_done"] == 0


def test_the_same_idempotency_key_twice_makes_one_job(webui):
    body = {"prompt": "idempotent cat", "seed": 7, **SMALL}
    key = {"Idempotency-Key": f"suite-{time.time_ns()}"}
    first = webui.ours("POST", "/jobs", body, headers=key)
    second = webui.ours("POST", "/jobs", body, headers=key)
    assert (first.status, second.status) == (202, 200) and first.body["id"] == second.body["id"]
    assert webui.ours("POST", "/jobs", {**body, "seed": 8}, headers=key).status == 409
    wait_until(webui, first.body["id"], finished, "finished")


def test_a_bad_template_is_refused_at_submit(webui):
    reply = webui.ours("POST", "/jobs", {"prompt": "a {red|blue cat", **SMALL})
    assert reply.status == 422 and reply.body["detail"][0]["line"] == 1


class Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        Receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver(sharing):
    """A webhook receiver on 127.0.0.1, which the WebUI's Settings allow (loopback is refused otherwise): on every
    WebUI that may run the job, since the one that runs it sends its webhooks."""
    standardwebhooks = pytest.importorskip("standardwebhooks", reason="pip install standardwebhooks in this venv")
    for each in sharing:
        options = each.call("POST", "/sdapi/v1/options", {"prompt_templates_webhook_allowed_hosts": "127.0.0.1"})
        assert options.status == 200, (each.url, options.body)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Receiver.received.clear()
    secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()

    def verified(job_id, timeout=120.0):
        """The signed events received for a job, verified with the standardwebhooks package."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            events = [standardwebhooks.Webhook(secret).verify(body, headers) for headers, body in Receiver.received]
            mine = [e for e in events if e["data"]["id"] == job_id]
            if any(e["type"] != "job.progress" for e in mine):
                return mine
            time.sleep(0.1)
        raise AssertionError(f"no final webhook for job {job_id}: {Receiver.received}")

    hook = {"url": f"http://127.0.0.1:{server.server_port}/hook", "secret": secret}
    yield hook, verified
    server.shutdown()
    for each in sharing:
        each.call("POST", "/sdapi/v1/options", {"prompt_templates_webhook_allowed_hosts": ""})


def test_a_local_receiver_gets_a_signed_webhook_that_verifies(webui, receiver):
    hook, verified = receiver
    made = submit(webui, {"prompt": "a hooked {cat|dog}", "mode": "combinatorial", "webhook": hook, **SMALL})
    wait_until(webui, made["id"], finished, "finished")
    (event,) = verified(made["id"])
    assert event["type"] == "job.succeeded" and len(event["data"]["images"]) == 2


def test_a_100_image_job_survives_a_kill_and_restart_halfway_every_image_once(webui, webui_dir, receiver):
    """The issue's scenario: a caller submits 100 images and goes away; the WebUI is killed (SIGKILL) halfway and
    started again; the job resumes at its next image; the caller then downloads exactly 100 images with their
    prompts, and holds a signed webhook."""
    command = os.environ.get("SD_WEBUI_KILL_RESTART")
    if not command:
        pytest.skip("set SD_WEBUI_KILL_RESTART to a command that kill -9s the WebUI and starts it again")
    hook, verified = receiver
    body = {"prompt": "a {red|green|blue|white|black} {cat|dog|fox|owl|elk} {sits|runs|naps|eats}", **SMALL}
    made = submit(webui, {**body, "mode": "combinatorial", "count": 100, "seed": 900, "batch_size": 4, "webhook": hook})
    assert made["progress"]["images_total"] == 100 and len(set(made["prompts"])) == 100
    before = wait_until(webui, made["id"], lambda j: j["progress"]["images_done"] >= 40, "40 images")
    version = webui.ours("GET", "/version").body
    if before["worker"] != version.get("worker", before["worker"]):
        webui.ours("DELETE", f"/jobs/{made['id']}")  # not left running into the next tests on the other WebUI
        wait_until(webui, made["id"], finished, "cancelled")
        pytest.skip(
            f"the job runs on {before['worker']}, another WebUI on this shared database, and only this one can be "
            "killed and started again here (test_shared_webuis kills a WebUI mid-job)"
        )
    subprocess.run(command, shell=True, check=True, timeout=900)
    done = wait_until(webui, made["id"], finished, "finished after the restart")
    assert done["status"] == "succeeded", done
    assert before["progress"]["images_done"] < 100  # it was really stopped halfway
    assert done["progress"]["images_done"] == 100 and len(done["images"]) == 100
    assert done["prompts"] == made["prompts"] and done["seeds"] == list(range(900, 1000))
    if not version.get("shared_database"):  # on a shared one the images are rows; the folder is a cache
        files = sorted((webui_dir / "prompt-templates" / "jobs" / made["id"]).glob("*.png"))
        assert [f.name for f in files] == [f"{i:05d}.png" for i in range(100)]  # each image once, none half-written
    status, archive = webui.get_bytes(f"{done['url']}/images")
    assert status == 200
    with zipfile.ZipFile(io.BytesIO(archive)) as z:
        pngs = [n for n in z.namelist() if n.endswith(".png")]
        assert len(pngs) == 100
        texts = [Image.open(io.BytesIO(z.read(n))).info.get("parameters", "") for n in pngs]
    assert [t.split("\n", 1)[0] for t in texts] == done["prompts"]
    assert [int(t.split("Seed: ", 1)[1].split(",", 1)[0]) for t in texts] == done["seeds"]
    events = verified(made["id"])
    assert events[-1]["type"] == "job.succeeded" and len(events[-1]["data"]["images"]) == 100
