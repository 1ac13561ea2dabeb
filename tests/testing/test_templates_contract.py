"""Templates as Postmark renders them (Mustachio), offline and in the simulator.

Doc pages followed:
- https://postmarkapp.com/support/article/1077-template-syntax (the language)
- https://postmarkapp.com/support/article/1174-managing-layouts-with-postmark-s-api (layouts)
- https://postmarkapp.com/developer/api/templates-api#validate-template (validate's answer)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from postmark_kit import ServerClient, templating
from postmark_kit.errors import UnprocessableEntityError
from postmark_kit.models.email import TemplatedEmail
from postmark_kit.testing import FakePostmark

EMPLOYEES = {
    "company_name": "ACME Rockets, Inc.",
    "employees": [{"name": "Wile E. Coyote"}, {"name": "Road Runner"}],
}


def test_variables_dotted_paths_and_scoping() -> None:
    model = {"person": {"first_name": "Andrew"}}
    assert templating.render("Hello {{ person.first_name }}", model) == "Hello Andrew"
    assert templating.render("{{#person}}Hello {{first_name}}{{/person}}", model) == (
        "Hello Andrew"
    )
    assert templating.render("[{{missing}}|{{person.nope}}]", model) == "[|]"


def test_each_and_parent_scope_as_mustachio_resolves_them() -> None:
    # Mustachio: an item's parent scope is the list, the list's is the model
    source = "{{#each employees}}<li>{{ name }} works for: {{../../company_name}}</li>{{/each}}"
    assert templating.render(source, EMPLOYEES) == (
        "<li>Wile E. Coyote works for: ACME Rockets, Inc.</li>"
        "<li>Road Runner works for: ACME Rockets, Inc.</li>"
    )
    assert templating.render("{{#each tags}}[{{.}}]{{/each}}", {"tags": ["a", "b"]}) == "[a][b]"
    # a name is looked up in the current scope only: no implicit walk to the parent
    assert templating.render("{{#each employees}}{{company_name}}{{/each}}", EMPLOYEES) == ""
    assert templating.render("{{#each employees}}{{../company_name}}{{/each}}", EMPLOYEES) == ""
    # Mustachio's own test: each part of a dotted path is a scope
    ceo = {"Company": {"ceo": {"last_name": "Smith", "products": [{"name": "p0"}]}}}
    each_ceo = "{{#each Company.ceo.products}}{{name}}: {{../../last_name}}{{/each}}"
    assert templating.render(each_ceo, ceo) == "p0: Smith"
    # Postmark's templates FAQ: a section on a flag, the model one level up
    faq = "{{#english}}Good morning, {{../name}}{{/english}}{{#spanish}}Hola{{/spanish}}"
    assert templating.render(faq, {"english": True, "name": "Dave"}) == "Good morning, Dave"
    with pytest.raises(templating.TemplateRenderError, match="used like an array"):
        templating.render("{{#each person}}x{{/each}}", {"person": {"name": "A"}})


def test_escaping_raw_output_and_inverted_sections() -> None:
    model = {"html": "<b>Tom & 'Jerry'</b> café", "items": [], "flag": False}
    assert templating.render("{{html}}", model) == (
        "&lt;b&gt;Tom &amp; &#39;Jerry&#39;&lt;/b&gt; caf&#233;"
    )
    assert templating.render("{{{html}}}|{{& html}}", model) == (
        "<b>Tom & 'Jerry'</b> café|<b>Tom & 'Jerry'</b> café"
    )
    assert templating.render("{{html}}", model, escape=False) == "<b>Tom & 'Jerry'</b> café"
    assert templating.render("{{^items}}none{{/items}}{{^flag}}!{{/flag}}", model) == "none!"
    assert templating.render("{{#flag}}x{{/flag}}{{! a comment }}", model) == ""
    # an inverted section is scoped into its (missing) value too: ../ reaches the model
    assert templating.render("{{^items}}{{../flag}}{{/items}}", {"items": [], "flag": 1}) == "1"
    # re-opening the open section closes it: Mustachio's if/else
    assert templating.render("{{#a}}yes{{^a}}no{{/a}}", {"a": 0}) == "no"
    assert templating.render("{{flag}} {{n}}", {"flag": True, "n": 2.0}) == "True 2"
    assert templating.render("x {{name", {}) == "x {{name"  # never closed: plain text


@pytest.mark.parametrize(
    ("source", "line", "position"),
    [
        ("Hi {{> footer}}", 1, 4),  # partials: Postmark refuses them
        ("a\n{{#each items}}{{name}}", 2, 1),
        ("{{#a}}{{/b}}", 1, 7),
        ("x {{@index}}", 1, 3),
        ("{{/a}}", 1, 1),
        ("{{#each}}{{/each}}", 1, 1),
        ("{{#each x}}{{/x}}", 1, 12),
    ],
)
def test_invalid_templates_report_where(source: str, line: int, position: int) -> None:
    error = templating.validate(source)[0]
    assert (error.line, error.position) == (line, position)
    with pytest.raises(templating.TemplateSyntaxError):
        templating.render(source, {})


def test_layouts_wrap_content_and_need_the_placeholder() -> None:
    layout = "<html>{{company}}: {{{ @content }}}</html>"
    assert templating.render_with_layout(layout, "Hi {{name}}", {"company": "A", "name": "B"}) == (
        "<html>A: Hi B</html>"
    )
    with pytest.raises(templating.TemplateSyntaxError):
        templating.render_with_layout("<html></html>", "x", {})


def test_suggested_model_nests_like_postmark() -> None:
    suggested = templating.suggest_model(
        "{{#company}}{{name}}{{/company}} {{subjectHeadline}}",
        "{{ company.address }} {{#each person}}{{name}}{{/each}}",
        model={"userName": "bobby joe"},
    )
    assert suggested == {
        "company": {"name": "name_Value", "address": "address_Value"},
        "subjectHeadline": "subjectHeadline_Value",
        "person": [{"name": "name_Value"}],
        "userName": "bobby joe",
    }


# -- the simulator -------------------------------------------------------------


def test_create_accepts_mustachio_and_refuses_partials(postmark_client: ServerClient) -> None:
    created = postmark_client.templates.create(
        name="Team",
        alias="team",
        subject="{{company_name}}",
        html_body="{{#each employees}}<li>{{name}} / {{../../company_name}}</li>{{/each}}",
    )
    assert created.template_id
    with pytest.raises(UnprocessableEntityError) as exc:
        postmark_client.templates.create(name="P", subject="s", html_body="{{> footer}}")
    assert exc.value.error_code == 1122 and "'> footer' is not valid" in str(exc.value)


def test_sending_renders_each_parent_scope_and_escapes_html_only(
    postmark_fake: FakePostmark, postmark_client: ServerClient
) -> None:
    postmark_client.templates.create(
        name="Team",
        alias="team",
        subject="News from {{company_name}}",
        html_body="{{#each employees}}<li>{{name}} / {{../../company_name}}</li>{{/each}}",
        text_body="{{#each employees}}{{name}} & {{../../company_name}};{{/each}}",
    )
    model = {**EMPLOYEES, "company_name": "A&B"}
    sent = postmark_client.email.send_with_template(
        TemplatedEmail(
            from_email=postmark_fake.sender_email,
            to="x@example.org",
            template_alias="team",
            template_model=model,
        )
    )
    details = postmark_client.outbound.get(sent.message_id or "")
    assert details.subject == "News from A&B"
    assert details.html_body == ("<li>Wile E. Coyote / A&amp;B</li><li>Road Runner / A&amp;B</li>")
    assert details.text_body == "Wile E. Coyote & A&B;Road Runner & A&B;"


def test_layouts_in_the_simulator(
    postmark_fake: FakePostmark, postmark_client: ServerClient
) -> None:
    with pytest.raises(UnprocessableEntityError):  # a layout without {{{@content}}}
        postmark_client.templates.create(
            name="Bad", alias="bad", template_type="Layout", html_body="<html></html>"
        )
    postmark_client.templates.create(
        name="Base",
        alias="base",
        template_type="Layout",
        html_body="<main>{{{@content}}}</main><footer>{{company}}</footer>",
        text_body="{{{@content}}}\n-- {{company}}",
    )
    std = postmark_client.templates.create(
        name="Hello",
        alias="hello",
        subject="Hi",
        html_body="<p>{{name}}</p>",
        text_body="Hi {{name}}",
        layout_template="base",
    )
    sent = postmark_client.email.send_with_template(
        TemplatedEmail(
            from_email=postmark_fake.sender_email,
            to="x@example.org",
            template_alias="hello",
            template_model={"name": "Ada", "company": "ACME"},
        )
    )
    details = postmark_client.outbound.get(sent.message_id or "")
    assert details.html_body == "<main><p>Ada</p></main><footer>ACME</footer>"
    assert details.text_body == "Hi Ada\n-- ACME"
    # a template's type is immutable; a used layout cannot be deleted; layouts are not sent
    changed = requests.put(
        f"{postmark_fake.base_url}/templates/{std.template_id}",
        json={"TemplateType": "Layout"},
        headers={"X-Postmark-Server-Token": postmark_fake.server_token},
        timeout=5,
    )
    assert changed.status_code == 422 and "cannot be changed" in changed.json()["Message"]
    with pytest.raises(UnprocessableEntityError):
        postmark_client.templates.delete("base")
    with pytest.raises(UnprocessableEntityError):
        postmark_client.email.send_with_template(
            TemplatedEmail(
                from_email=postmark_fake.sender_email,
                to="x@example.org",
                template_alias="base",
                template_model={},
            )
        )


def test_validate_answers_in_postmarks_shape(
    postmark_fake: FakePostmark, postmark_client: ServerClient
) -> None:
    result = postmark_client.templates.validate(
        subject="{{#company}}{{name}}{{/company}} {{subjectHeadline}}",
        html_body="{{#each person}}{{name}} {{/each}}",
        test_render_model={"userName": "bobby joe"},
    )
    assert result.all_content_is_valid is True
    assert result.text_body is None  # not submitted: null, as Postmark answers
    assert result.subject is not None and result.subject.rendered_content == (
        "name_Value subjectHeadline_Value"
    )
    assert result.suggested_template_model == {
        "company": {"name": "name_Value"},
        "subjectHeadline": "subjectHeadline_Value",
        "person": [{"name": "name_Value"}],
        "userName": "bobby joe",
    }
    raw = requests.post(
        f"{postmark_fake.base_url}/templates/validate",
        json={"TextBody": "ok {{#open}}"},
        headers={
            "X-Postmark-Server-Token": postmark_fake.server_token,
            "Accept": "application/json",
        },
        timeout=5,
    ).json()
    assert raw["Subject"] is None and raw["HtmlBody"] is None
    assert raw["AllContentIsValid"] is False
    assert raw["TextBody"]["ValidationErrors"][0]["CharacterPosition"] == 4
    bad = postmark_client.templates.validate(html_body="<p></p>", template_type="Layout")
    assert bad.all_content_is_valid is False


def test_the_testing_guides_python_examples_run() -> None:
    """docs/testing.md's python blocks (templates offline, payloads) are executed."""
    import re
    from pathlib import Path

    page = Path(__file__).resolve().parents[2] / "docs" / "testing.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), re.S)
    assert any("templating" in b for b in blocks)
    for number, block in enumerate(blocks, start=1):
        exec(compile(block, f"testing.md (python block {number})", "exec"), {})  # noqa: S102


def test_render_template_command_previews_offline(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from postmark_kit.cli import main

    tpl = tmp_path / "welcome.html"
    tpl.write_text("{{#each people}}<li>{{name}} @ {{../../company}}</li>{{/each}}")
    layout = tmp_path / "base.html"
    layout.write_text("<main>{{{ @content }}}</main>")
    model = tmp_path / "model.json"
    model.write_text('{"company": "A&B", "people": [{"name": "Ann"}]}')
    runner = CliRunner()
    out = runner.invoke(
        main, ["render-template", str(tpl), "--model", str(model), "--layout", str(layout)]
    )
    assert out.exit_code == 0, out.output
    assert out.output == "<main><li>Ann @ A&amp;B</li></main>"
    suggested = runner.invoke(main, ["render-template", str(tpl), "--suggest"])
    assert json.loads(suggested.output) == {
        "people": [{"name": "name_Value"}],
        "company": "company_Value",
    }
    bad = tmp_path / "bad.txt"
    bad.write_text("Hi\n{{> footer}}")
    failed = runner.invoke(main, ["render-template", str(bad)])
    assert failed.exit_code == 1 and "line 2, character 1" in failed.output
    assert "Traceback" not in failed.output


def test_a_model_that_does_not_fit_bounces_as_template_rendering_failed(
    postmark_fake: FakePostmark, postmark_client: ServerClient
) -> None:
    postmark_client.templates.create(
        name="Items", alias="items", subject="s", text_body="{{#each items}}{{.}}{{/each}}"
    )
    sent = postmark_client.email.send_with_template(
        TemplatedEmail(
            from_email=postmark_fake.sender_email,
            to="x@example.org",
            template_alias="items",
            template_model={"items": "not a list"},
        )
    )
    assert sent.error_code == 0  # accepted, as Postmark accepts it...
    (bounce,) = postmark_client.bounces.list().items
    assert (bounce.type, bounce.type_code) == ("TemplateRenderingFailed", 100010)  # ...then bounces
    assert "used like an array" in (bounce.details or "")
