"""``templates pull|push|preview|list``, ``send --template``: against the simulator over HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from postmark_kit import ServerClient
from postmark_kit.cli import main
from postmark_kit.testing import FakePostmark

pytest.importorskip("postmark_kit.templating")  # the renderer (the simulator's templating)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakePostmark]:
    with FakePostmark() as server:
        yield server


@pytest.fixture
def client(fake: FakePostmark) -> Iterator[ServerClient]:
    fake.reset()
    with ServerClient(fake.server_token, base_url=fake.base_url, retries=0) as c:
        c.templates.create(
            name="Base",
            alias="base",
            template_type="Layout",
            html_body="<html><body>{{{@content}}}</body></html>",
            text_body="{{{@content}}}\n-- The team",
        )
        c.templates.create(
            name="Welcome",
            alias="welcome",
            subject="Welcome, {{name}}",
            html_body="<p>Hello {{name}}</p>",
            text_body="Hello {{name}}",
            layout_template="base",
        )
        c.templates.create(name="No alias", subject="s", text_body="t")
        yield c


@pytest.fixture
def cli(fake: FakePostmark) -> Any:
    env = {"POSTMARK_SERVER_TOKEN": fake.server_token, "POSTMARK_BASE_URL": fake.base_url}

    def invoke(*args: str, input: str | None = None) -> Any:
        return CliRunner(env=env).invoke(main, [*args, "--retries", "0"], input=input)

    return invoke


def test_pull_writes_one_folder_per_template_with_a_test_model(
    client: ServerClient, cli: Any, tmp_path: Path
) -> None:
    result = cli("templates", "pull", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "Pulled 1 template(s) and 1 layout(s)" in result.stderr
    assert "Skipped 1 template(s) without an alias" in result.stderr
    welcome = tmp_path / "templates" / "welcome"
    meta = json.loads((welcome / "meta.json").read_text())
    assert meta == {
        "Name": "Welcome",
        "Alias": "welcome",
        "Subject": "Welcome, {{name}}",
        "LayoutTemplate": "base",
        "TestRenderModel": {"name": "name_Value"},
    }
    assert (welcome / "content.html").read_text() == "<p>Hello {{name}}</p>"
    assert (tmp_path / "layouts" / "base" / "content.txt").read_text().endswith("-- The team")

    # A local test model survives a second pull; a changed body needs consent.
    meta["TestRenderModel"] = {"name": "Ada"}
    (welcome / "meta.json").write_text(json.dumps(meta))
    (welcome / "content.txt").write_text("edited locally")
    refused = cli("templates", "pull", str(tmp_path), input="n\n")
    assert refused.exit_code == 1 and "nothing pulled" in refused.stderr
    assert (welcome / "content.txt").read_text() == "edited locally"
    forced = cli("templates", "pull", str(tmp_path), "--yes")
    assert forced.exit_code == 0, forced.output
    assert (welcome / "content.txt").read_text() == "Hello {{name}}"
    assert json.loads((welcome / "meta.json").read_text())["TestRenderModel"] == {"name": "Ada"}


def test_push_reviews_then_creates_and_updates(
    client: ServerClient, cli: Any, tmp_path: Path
) -> None:
    assert cli("templates", "pull", str(tmp_path)).exit_code == 0
    same = cli("templates", "push", str(tmp_path), "--dry-run")
    assert same.exit_code == 0 and "Nothing to push" in same.stderr

    (tmp_path / "templates" / "welcome" / "content.html").write_text("<p>Hi {{name}}!</p>")
    new = tmp_path / "templates" / "receipt"
    new.mkdir()
    (new / "meta.json").write_text(json.dumps({"Name": "Receipt", "Subject": "Your receipt"}))
    (new / "content.txt").write_text("Total: {{total}}")

    dry = cli("templates", "push", str(tmp_path), "--dry-run")
    assert dry.exit_code == 0, dry.output
    rows = [line.split() for line in dry.stdout.splitlines()]
    assert rows[0] == ["ACTION", "TYPE", "ALIAS", "NAME", "CHANGES"]
    assert ["create", "template", "receipt", "Receipt", "(new)"] in rows
    assert ["update", "template", "welcome", "Welcome", "HtmlBody"] in rows
    assert "Dry run: 2 change(s) not pushed." in dry.stderr
    assert client.templates.get("welcome").html_body == "<p>Hello {{name}}</p>"

    declined = cli("templates", "push", str(tmp_path), input="n\n")
    assert declined.exit_code == 1 and "nothing pushed" in declined.stderr
    no_answer = cli("templates", "push", str(tmp_path), input="")  # CI without --yes
    assert no_answer.exit_code == 1 and "--yes" in no_answer.stderr
    assert client.templates.get("welcome").html_body == "<p>Hello {{name}}</p>"

    confirmed = cli("templates", "push", str(tmp_path), input="y\n")
    assert confirmed.exit_code == 0, confirmed.output
    assert "Pushed 2 change(s)." in confirmed.stderr
    assert client.templates.get("welcome").html_body == "<p>Hi {{name}}!</p>"
    receipt = client.templates.get("receipt")
    assert (receipt.subject, receipt.text_body) == ("Your receipt", "Total: {{total}}")
    again = cli("templates", "push", str(tmp_path), "--yes")
    assert again.exit_code == 0 and "Nothing to push" in again.stderr


def test_push_refuses_what_postmark_would_refuse_before_any_call(
    client: ServerClient, cli: Any, tmp_path: Path
) -> None:
    assert cli("templates", "pull", str(tmp_path)).exit_code == 0
    layout = tmp_path / "layouts" / "base" / "content.html"
    layout.write_text("<html>no placeholder</html>")
    result = cli("templates", "push", str(tmp_path), "--yes")
    assert result.exit_code == 2 and "a layout must contain {{{@content}}}" in result.stderr
    layout.write_text("<html>{{{@content}}}</html>")
    (tmp_path / "templates" / "welcome" / "content.html").write_text("<p>{{#open}}</p>")
    broken = cli("templates", "push", str(tmp_path), "--yes")
    assert broken.exit_code == 2 and "content.html" in broken.stderr
    assert "line 1" in broken.stderr
    assert client.templates.get("base").html_body == "<html><body>{{{@content}}}</body></html>"


def test_list_table_json_and_jsonl(client: ServerClient, cli: Any) -> None:
    table = cli("templates", "list")
    assert table.exit_code == 0, table.output
    assert table.stdout.splitlines()[0].split() == [
        "ID",
        "TYPE",
        "ALIAS",
        "LAYOUT",
        "ACTIVE",
        "NAME",
    ]
    as_json = json.loads(cli("templates", "list", "--json").stdout)
    assert {t.get("Alias") for t in as_json} == {"base", "welcome", None}
    lines = cli("templates", "list", "--type", "layout", "--jsonl").stdout.splitlines()
    assert [json.loads(line)["Alias"] for line in lines] == ["base"]


def test_send_with_a_template_and_a_model_file(
    client: ServerClient, cli: Any, fake: FakePostmark, tmp_path: Path
) -> None:
    model = tmp_path / "model.json"
    model.write_text(json.dumps({"name": "Ada"}))
    dry = cli(
        "send", "--template", "welcome", "--model", str(model), "--from", fake.sender_email,
        "--to", "ada@example.com", "--dry-run",
    )  # fmt: skip
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["TemplateAlias"] == "welcome"
    assert json.loads(dry.stdout)["TemplateModel"] == {"name": "Ada"}
    sent = cli(
        "send", "--template", "welcome", "--model", str(model), "--from", fake.sender_email,
        "--to", "ada@example.com",
    )  # fmt: skip
    assert sent.exit_code == 0, sent.output
    message_id = json.loads(sent.stdout)["MessageID"]
    (found,) = [m for m in client.outbound.stream() if m.message_id == message_id]
    assert found.subject == "Welcome, Ada"
    unknown = cli(
        "send", "--template", "nope", "--from", fake.sender_email, "--to", "ada@example.com"
    )
    assert unknown.exit_code == 1 and "Error: HTTP" in unknown.stderr


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.mark.slow  # a CLI subprocess serving, polled until it reloads
def test_preview_serves_rendered_templates_and_reloads_on_change(
    client: ServerClient, cli: Any, tmp_path: Path
) -> None:
    assert cli("templates", "pull", str(tmp_path)).exit_code == 0
    meta_path = tmp_path / "templates" / "welcome" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["TestRenderModel"] = {"name": "<Ada>"}
    meta_path.write_text(json.dumps(meta))
    proc = subprocess.Popen(
        [sys.executable, "-m", "postmark_kit.cli", "templates", "preview", str(tmp_path),
         "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert "http://127.0.0.1:" in line, line
        url = line.split(" at ")[1].split()[0]
        status, index = _get(url)
        assert status == 200 and "/t/welcome/" in index and "/t/base/" in index
        assert _get(url + "t/welcome/html") == (
            200,
            "<html><body><p>Hello &lt;Ada&gt;</p></body></html>",
        )
        assert _get(url + "t/welcome/text") == (200, "Hello <Ada>\n-- The team")
        status, page = _get(url + "t/welcome/")
        assert status == 200 and "Welcome, &lt;Ada&gt;" in page and "/__version" in page
        _, before = _get(url + "__version")
        time.sleep(0.01)
        (tmp_path / "templates" / "welcome" / "content.txt").write_text("Bye {{name}}")
        _, after = _get(url + "__version")
        assert before != after
        assert _get(url + "t/welcome/text") == (200, "Bye <Ada>\n-- The team")
        (tmp_path / "templates" / "welcome" / "content.txt").write_text("{{#oops}}")
        status, error = _get(url + "t/welcome/text")
        assert status == 422 and "line 1" in error
        assert _get(url + "t/missing/")[0] == 404
    finally:
        proc.terminate()
        proc.wait(timeout=10)
