"""Every name GET /wildcards lists opens with GET /wildcards/{name}, URL-encoded as a client encodes any path
segment: spaces, '&', "'", '+', '%', '#', '?', unicode, and names made of YAML keys."""

from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from sd_prompt_templates.api.deps import ApiContext
from sd_prompt_templates.api.main import mount
from sd_prompt_templates.service import PromptService
from sd_prompt_templates.settings import Settings
from tests.api.conftest import Txt2ImgBase
from tests.conftest import write_files

PREFIX = "/prompt-templates/v1"
FILES = {
    "plain.txt": "one\n",
    "salt & pepper.txt": "salt\npepper\n",
    "rock'n'roll.txt": "guitar\n",
    "c++.txt": "templates\n",
    "a+b.txt": "plus\n",
    "café crème.txt": "foam\n",
    "日本/花.txt": "桜\n",
    "100% cotton.txt": "shirt\n",
    "#hash.txt": "tag\n",
    "what?.txt": "question\n",
    "deep/folder name/leaf.txt": "leaf\n",
    "sets/wear.yaml": "summer & fun:\n  - shorts\nwinter coats:\n  - parka\nnaïve art:\n  - rousseau\n",
}
EXPECTED = {
    "plain": ["one"],
    "salt & pepper": ["salt", "pepper"],
    "rock'n'roll": ["guitar"],
    "c++": ["templates"],
    "a+b": ["plus"],
    "café crème": ["foam"],
    "日本/花": ["桜"],
    "100% cotton": ["shirt"],
    "#hash": ["tag"],
    "what?": ["question"],
    "deep/folder name/leaf": ["leaf"],
    "sets/summer & fun": ["shorts"],
    "sets/winter coats": ["parka"],
    "sets/naïve art": ["rousseau"],
}


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    root = write_files(tmp_path / "odd names", FILES)
    settings = Settings(library_path=tmp_path / "t.sqlite3", wildcard_dirs=(root,))
    app = FastAPI()
    mount(app, ApiContext(service=PromptService(lambda: settings), credentials=lambda: None), Txt2ImgBase)
    return TestClient(app)


def test_names_with_any_file_name_character_are_listed(client):
    names = {w["name"] for w in client.get(f"{PREFIX}/wildcards").json()["wildcards"]}
    assert names == set(EXPECTED)


@pytest.mark.parametrize("name", EXPECTED)
def test_every_listed_name_opens(client, name):
    names = {w["name"] for w in client.get(f"{PREFIX}/wildcards").json()["wildcards"]}
    assert name in names
    response = client.get(f"{PREFIX}/wildcards/{quote(name, safe='/')}")
    assert response.status_code == 200, response.text
    assert response.json() == {"name": name, "entries": EXPECTED[name]}


def test_every_name_the_listing_gives_opens(client):
    """The property itself, over whatever the listing holds."""
    listed = client.get(f"{PREFIX}/wildcards").json()["wildcards"]
    assert listed
    for item in listed:
        response = client.get(f"{PREFIX}/wildcards/{quote(item['name'], safe='/')}")
        assert response.status_code == 200, (item, response.text)
        assert response.json()["name"] == item["name"] and response.json()["entries"]


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("salt%20%26%20pepper", "salt & pepper"),  # everything encoded
        ("salt%20&%20pepper", "salt & pepper"),  # '&' left as is: it is allowed in a path
        ("c++", "c++"),  # '+' in a path is a plus, never a space
        ("c%2B%2B", "c++"),
        ("%E6%97%A5%E6%9C%AC%2F%E8%8A%B1", "日本/花"),  # '/' encoded too
        ("caf%C3%A9%20cr%C3%A8me", "café crème"),
        ("100%25%20cotton", "100% cotton"),
    ],
)
def test_the_name_is_url_decoded_once(client, path, name):
    response = client.get(f"{PREFIX}/wildcards/{path}")
    assert response.status_code == 200, response.text
    assert response.json()["name"] == name


@pytest.mark.parametrize("path", ["%2e%2e/x", "..%2Fplain", "%2Fetc%2Fpasswd", "a%00b", "plain%5C..%5Cx", "nope"])
def test_names_that_leave_the_collection_or_do_not_exist_are_404(client, path):
    response = client.get(f"{PREFIX}/wildcards/{path}")
    assert response.status_code == 404, response.text
    assert isinstance(response.json()["detail"], str)
