"""Two real WebUIs on one PostgreSQL database: one template library, one queue, every job done once, and a WebUI
killed mid-job whose job the other finishes.

Needs, besides SD_WEBUI_URL, a second WebUI with this extension, both started with the same
SD_PROMPT_TEMPLATES_DATABASE_URL:
SD_WEBUI_PEER_URL   the second WebUI (same --api-auth credentials, if any)
SD_WEBUI_PEER_KILL  a shell command that kill -9s the second WebUI (for the last test; it is not started again), run
                    by /bin/sh: e.g. "kill -KILL -PID" for its process group (dash refuses "kill -KILL -- -PID")
Set "Jobs, shared database: another WebUI takes over..." (Settings) low on both, e.g. 15 s, or the last test waits
for the default."""

from __future__ import annotations

import io
import os
import subprocess
import time

import pytest
from PIL import Image

from tests.webui.client import WebUI
from tests.webui.test_jobs import SMALL, finished, job, submit, wait_until

# seconds a job on a CPU (A1111's tiny test model makes 128x128 at 12 steps in a fifth of a second: a job of five
# such images could end before the kill), minutes at most with Forge's full-size one
SLOW = {"steps": 12, "width": 160, "height": 160, "batch_size": 1}


@pytest.fixture(scope="module")
def peer(webui: WebUI) -> WebUI:
    url = os.environ.get("SD_WEBUI_PEER_URL")
    if not url:
        pytest.skip("two WebUIs on one database: set SD_WEBUI_PEER_URL to a second WebUI sharing the database")
    other = WebUI(url.rstrip("/"), webui.auth)
    if other.ours("GET", "/version").status != 200:
        pytest.skip(f"SD_WEBUI_PEER_URL {url} does not answer")
    return other


def test_a_template_saved_on_one_webui_is_used_by_the_other_and_stale_edits_are_refused(webui, peer):
    name = f"shared-{int(time.time() * 1000)}"
    template = {"name": name, "prompt": "a {red|blue} kite over ${place}", "variables": [{"name": "place"}]}
    made = webui.ours("POST", "/templates", template)
    assert made.status == 201, made.body
    rendered = peer.ours("POST", "/render", {"template": name, "variables": {"place": "the sea"}, "seed": 3})
    assert rendered.status == 200 and rendered.body["prompts"][0].endswith("kite over the sea"), rendered.body
    edit = {"name": name, "prompt": "a green kite", "version": 1}
    assert peer.ours("PUT", f"/templates/{name}", edit).status == 200
    stale = webui.ours("PUT", f"/templates/{name}", {**edit, "prompt": "a lost edit"})
    assert stale.status == 409, stale.body
    assert webui.ours("GET", f"/templates/{name}").body["prompt"] == "a green kite"
    assert webui.ours("DELETE", f"/templates/{name}", headers={"If-Match": "2"}).status == 204


def test_twenty_jobs_submitted_to_one_webui_are_shared_by_both_each_image_once(webui, peer):
    body = {"prompt": "a {red|green|blue|white} {cat|dog}", "mode": "combinatorial", "count": 4, **SMALL}
    made = [submit(webui, {**body, "seed": 100 * i}) for i in range(20)]
    done = [wait_until(peer, m["id"], finished, "finished") for m in made]  # followed through the other one
    assert [d["status"] for d in done] == ["succeeded"] * 20, [d.get("error") for d in done]
    workers = {d["worker"] for d in done}
    assert len(workers) == 2, f"one WebUI ran every job: {workers}"
    for submitted, ended in zip(made, done, strict=True):
        assert ended["progress"]["images_done"] == 4 and len(ended["images"]) == 4
        assert ended["prompts"] == submitted["prompts"] and ended["seeds"] == submitted["seeds"]
        for index, url in enumerate(ended["images"]):  # from both WebUIs, whichever made it
            for reader in (webui, peer):
                status, data = reader.get_bytes(url)
                assert status == 200, (reader.url, url)
                infotext = Image.open(io.BytesIO(data)).info.get("parameters", "")
                assert infotext.split("\n", 1)[0] == ended["prompts"][index]


def test_a_webui_killed_mid_job_leaves_its_job_to_the_other_which_finishes_it(webui, peer):
    command = os.environ.get("SD_WEBUI_PEER_KILL")
    if not command:
        pytest.skip("set SD_WEBUI_PEER_KILL to a command that kill -9s the second WebUI")
    body = {"prompt": "a {red|green|blue|white|black} {kite|boat}", "mode": "combinatorial", **SLOW}
    first, second = submit(webui, {**body, "seed": 1}), submit(webui, {**body, "seed": 2})
    running = [
        wait_until(webui, m["id"], lambda j: j["progress"]["images_done"] >= 1, "an image") for m in (first, second)
    ]
    peer_name = peer_worker(peer, running)
    victim = next(j for j in running if j["worker"] == peer_name)
    subprocess.run(command, shell=True, check=True, timeout=120)
    at_kill = job(webui, victim["id"])
    assert not finished(at_kill), f"the job ended before its WebUI was killed (make SLOW slower): {at_kill}"
    done = wait_until(webui, victim["id"], finished, "finished by the WebUI left", timeout=600)
    assert done["status"] == "succeeded", done
    assert done["worker"] != peer_name, done["worker"]
    assert done["progress"]["images_done"] == 10 and len(done["images"]) == len(set(done["images"])) == 10
    assert job(webui, (first if victim["id"] == second["id"] else second)["id"])["status"] in ("running", "succeeded")


def peer_worker(peer: WebUI, running: list[dict]) -> str:
    """The second WebUI's worker name: the one of the two running jobs' workers it reports as its own. Both must be
    running at once, one on each WebUI."""
    names = {j["worker"] for j in running}
    assert len(names) == 2, f"both jobs run on one WebUI: {names}"
    own = peer.ours("GET", "/version").body.get("worker")
    if own in names:
        return own
    pytest.skip("the peer does not say its worker name (GET /version has no 'worker')")
