"""Every ``python`` code block of the guide pages runs, so the docs cannot rot.

The blocks of one page run in order in one namespace (a later block may use
names of an earlier one), against a mocked Postmark that answers each
operation of ``tests/data/endpoints.yaml`` with its documented example
response (tests/fixtures/responses).  Paginated searches return their example
page at offset 0 and an empty page after it; batch sends answer one result per
message sent.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import io
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests_mock
import yaml

from tests.conftest import API, CATALOG, load_response

DOCS = Path(__file__).resolve().parent.parent / "docs"
#: The pages whose examples this test owns.
PAGES = [
    "quickstart.md",
    "sending.md",
    "querying.md",
    "account.md",
    "cli.md",
    *sorted(
        f"api/{p.name}"
        for p in (Path(__file__).resolve().parent.parent / "docs" / "api").glob("*.md")
    ),
]

FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```\s*$", re.M | re.S)


def python_blocks(page: str) -> list[str]:
    return FENCE.findall((DOCS / page).read_text())


def _path_regex(path: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", path)
    body = "".join("[^/?]+" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(re.escape(API) + body + r"(\?.*)?$", re.I)


def _responder(op: dict[str, Any]) -> Any:
    example = load_response(op["id"])
    if op.get("response_is_array"):

        def batch(request: Any, context: Any) -> list[Any]:
            sent = request.json()
            messages = sent["Messages"] if isinstance(sent, dict) else sent
            out = []
            for i, message in enumerate(messages):
                result = copy.deepcopy(example[0])
                result["To"] = message.get("To")
                result["MessageID"] = f"00000000-0000-0000-0000-{i:012d}"
                out.append(result)
            return out

        return batch
    if op.get("pagination") == "count/offset":
        list_key = next(k for k, v in example.items() if isinstance(v, list))

        def page(request: Any, context: Any) -> Any:
            offset = int(parse_qs(urlsplit(request.url).query).get("offset", ["0"])[0])
            return example if offset == 0 else {**example, list_key: []}

        return page
    return lambda request, context: copy.deepcopy(example)


@functools.cache
def _operations() -> tuple[dict[str, Any], ...]:
    """The catalog, parsed once for every page (read only)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's when there: 5x faster
    operations = yaml.load(CATALOG.read_text(), Loader=loader)  # noqa: S506
    # requests-mock tries the latest registration first: literal paths
    # (/templates/validate) must win over placeholders (/templates/{id}).
    return tuple(sorted(operations, key=lambda op: "{" not in op["path"]))


@functools.cache
def _routes() -> tuple[tuple[str, re.Pattern[str], Any], ...]:
    """(method, URL pattern, answer) per operation, built once: every answer is stateless."""
    return tuple((op["method"], _path_regex(op["path"]), _responder(op)) for op in _operations())


@pytest.fixture
def mocked_postmark() -> Any:
    with requests_mock.Mocker() as mock:
        for method, url, answer in _routes():
            mock.register_uri(method, url, json=answer)
        yield mock


def _run_documented_export(mock: requests_mock.Mocker) -> None:
    from click.testing import CliRunner

    from postmark_kit.cli import main

    command = "export --from-date 2024-05-01 --to-date 2024-05-31 -o may.jsonl"
    assert f"postmark-kit {command}" in (DOCS / "cli.md").read_text()
    env = {"POSTMARK_SERVER_TOKEN": "server-token", "POSTMARK_BASE_URL": None}
    result = CliRunner(env=env).invoke(main, command.split(), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert Path("may.jsonl").read_text().count("\n") >= 1


@pytest.mark.parametrize("page", PAGES)
def test_page_examples_run(
    page: str, mocked_postmark: requests_mock.Mocker, tmp_path: Path, monkeypatch: Any
) -> None:
    blocks = python_blocks(page)
    if not blocks:
        pytest.skip(f"{page} has no python examples")
    monkeypatch.chdir(tmp_path)
    if page == "cli.md":
        # The Python example reads the file the page's `export` command writes.
        _run_documented_export(mocked_postmark)
    namespace: dict[str, Any] = {"__name__": f"docs_{page.replace('.', '_')}"}
    for number, block in enumerate(blocks, start=1):
        code = compile(block, f"{page} (python block {number})", "exec")
        with contextlib.redirect_stdout(io.StringIO()):
            exec(code, namespace)  # noqa: S102 - our own documentation
    assert mocked_postmark.called, f"{page}: examples never reached the (mocked) API"


def test_guide_pages_have_examples() -> None:
    for page in ["sending.md", "querying.md"]:
        assert len(python_blocks(page)) >= 3, page
