"""One settings layer: each ``POSTMARK_*`` setting declared once, read and documented from there."""

from __future__ import annotations

import ast
import importlib.util
import re
import subprocess
import sys
import typing
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from postmark_kit import settings
from postmark_kit.settings import SETTINGS, ConfigError, read, setting

ROOT = Path(__file__).resolve().parent.parent

#: ``POSTMARK_*`` names in the source that are not settings.
NOT_SETTINGS = {
    "POSTMARK_API_TEST": "Postmark's test token value",
    "POSTMARK_TZ": "Postmark's time zone (pagination)",
    "POSTMARK_WEBHOOK_IPS": "Postmark's published webhook IPs",
    "POSTMARK_BILLING_SERVER_TOKEN": "an example of PostmarkReceiver(config_prefix=...)",
}

#: A name, not a prefix (``POSTMARK_CELERY_*``, ``POSTMARK_BILLING_``).
NAME = re.compile(r"(?<![A-Za-z0-9_])POSTMARK_[A-Z0-9_]*[A-Z0-9](?![A-Za-z0-9_*])")


def _sources() -> list[Path]:
    package = ROOT / "postmark_kit"
    found = [*package.rglob("*.py"), *package.rglob("*.html")]
    found += [p for p in (ROOT / "receiver").iterdir() if p.is_file()]
    return sorted(p for p in found if p.name != "settings.py")


def _names_in(path: Path) -> set[str]:
    return set(NAME.findall(path.read_text(encoding="utf-8")))


def test_every_postmark_name_in_the_source_is_declared() -> None:
    undeclared = {
        f"{name} ({path.relative_to(ROOT)})"
        for path in _sources()
        for name in _names_in(path)
        if name not in NOT_SETTINGS and name not in {s.name for s in SETTINGS}
    }
    assert not undeclared, f"declare these in postmark_kit/settings.py: {sorted(undeclared)}"


def test_every_declared_setting_is_read_somewhere() -> None:
    used = set().union(*(_names_in(p) for p in _sources()))
    # Django's backend reads settings.POSTMARK["<KEY>"] or settings.POSTMARK_<KEY>.
    django = (ROOT / "postmark_kit" / "django.py").read_text(encoding="utf-8")
    used |= {s.name for s in settings.of("django") if f'"{s.name[9:]}"' in django}
    # The settings classes take theirs by field name (test_each_settings_class_...).
    for cls in _settings_classes():
        fields = cls.setting_fields
        used |= {s.name for s in settings.of(*fields.components) if s.name not in fields.elsewhere}
    dead = [s.name for s in SETTINGS if s.name not in used]
    assert not dead


def test_declarations_are_well_formed() -> None:
    names = [s.name for s in SETTINGS]
    assert len(names) == len(set(names))
    for s in SETTINGS:
        assert s.name.startswith("POSTMARK_") and s.doc and "\n" not in s.doc
        assert s.components and set(s.components) <= set(settings.COMPONENTS)
        s.parse(None)  # every default is itself a valid value
        assert s.field.isidentifier() and s.field == s.field.lower()
        if s.standalone is not None:
            assert s.parse(s.standalone) is not None
    assert all(s.secret for s in SETTINGS if s.kind == "secret" or "TOKEN" in s.name)


# -- reading ---------------------------------------------------------------------


def test_read_fills_in_defaults_and_converts() -> None:
    values = read(
        {
            "POSTMARK_JOURNAL_MAX_ATTEMPTS": "3",
            "POSTMARK_JOURNAL_POLL": "0.5",
            "POSTMARK_JOURNAL_WORKER": "off",
            "POSTMARK_PLUGINS": "a.b, c.d:E",
            "POSTMARK_URL_PREFIX": "hooks/",
            "POSTMARK_OTHER_PLUGIN_SETTING": "ignored",
        }
    )
    assert values["POSTMARK_JOURNAL_MAX_ATTEMPTS"] == 3
    assert values["POSTMARK_JOURNAL_POLL"] == 0.5
    assert values["POSTMARK_JOURNAL_WORKER"] is False
    assert values["POSTMARK_PLUGINS"] == ("a.b", "c.d:E")
    assert values["POSTMARK_URL_PREFIX"] == "/hooks"
    assert values["POSTMARK_DEDUPE_TTL"] == 7 * 24 * 3600
    assert values["POSTMARK_CELERY_RETRY_BACKOFF"] == 10.0
    assert "POSTMARK_OTHER_PLUGIN_SETTING" not in values


def test_read_by_component() -> None:
    journal = read({}, "journal")
    assert "POSTMARK_JOURNAL_LEASE" in journal and "POSTMARK_CELERY_QUEUE" not in journal
    assert set(read({}, "flask")) == {s.name for s in settings.of("flask")}


@pytest.mark.parametrize("blank", [None, ""])
def test_none_or_an_empty_string_is_unset(blank: str | None) -> None:
    values = read(
        {s.name: blank for s in SETTINGS},
    )
    expected = {s.name: s.parse(None) for s in SETTINGS}
    if blank == "":
        expected["POSTMARK_URL_PREFIX"] = ""  # the root
    assert values == expected


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("POSTMARK_JOURNAL_MAX_ATTEMPTS", "0", "between 1 and 1000, got 0"),
        ("POSTMARK_JOURNAL_MAX_ATTEMPTS", "many", "must be a number"),
        ("POSTMARK_JOURNAL_RETRY_BASE", "soon", "must be a number"),
        ("POSTMARK_JOURNAL_POLL", "nan", "must be a number"),
        ("POSTMARK_CELERY_RETRY_BACKOFF", "-1", "at least 0, got -1"),
        ("POSTMARK_MAX_BODY_BYTES", 2**41, "between 1 and 1099511627776"),
        ("POSTMARK_LOG_EVENTS", "maybe", "true or false"),
        ("POSTMARK_TRACK_LINKS", "always", "one of None, HtmlAndText, HtmlOnly, TextOnly"),
        ("POSTMARK_CELERY_QUEUE", "  ", "must not be empty"),
        ("POSTMARK_ALLOWED_IPS", "10.0.0.300", "not an IP or network"),
        ("POSTMARK_TRUSTED_PROXIES", "a-proxy", "a number of proxies or their addresses"),
        ("POSTMARK_WEBHOOK_SECRET_HEADER", "X_Secret", "has an underscore"),
        ("POSTMARK_JOURNAL_KEEP_BODY_BYTES", "-5", "between 0 and"),
    ],
)
def test_a_bad_value_is_a_config_error_naming_the_setting(
    name: str, value: Any, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        read({name: value})
    assert str(info.value).startswith(name)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("POSTMARK_SERVER_TOKEN", "tok-s3cret\r\n"),
        ("POSTMARK_WEBHOOK_PASSWORD", " s3cret"),
        ("POSTMARK_CONSOLE_PASSWORD", "s3cret\x00"),
        ("POSTMARK_CELERY_BROKER", "amqp://user:s3cret@host//"),
        ("POSTMARK_CELERY_REDIS", "http://user:s3cret@host/"),
    ],
)
def test_a_secret_is_never_echoed(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        read({name: value})
    assert name in str(info.value)
    assert "s3cret" not in str(info.value) and "s3cret" not in repr(info.value)


def test_keep_body_bytes_takes_all() -> None:
    assert setting("POSTMARK_JOURNAL_KEEP_BODY_BYTES").parse("all") is None
    assert setting("POSTMARK_JOURNAL_KEEP_BODY_BYTES").parse("1024") == 1024


def test_env_refuses_an_undeclared_name() -> None:
    assert settings.env("POSTMARK_SERVER_TOKEN") == "POSTMARK_SERVER_TOKEN"
    with pytest.raises(KeyError):
        settings.env("POSTMARK_SERVR_TOKEN")


def test_the_public_parse_helpers_still_work() -> None:
    from postmark_kit.receiver.config import ConfigError as ReceiverConfigError
    from postmark_kit.receiver.config import as_bool, as_int

    assert ReceiverConfigError is ConfigError
    assert as_bool("X", "yes") is True and as_bool("X", "") is False
    assert as_int("X", "7", 1, 10) == 7
    with pytest.raises(ConfigError, match="X must be between 1 and 10, got 11"):
        as_int("X", 11, 1, 10)


# -- every component reads the declarations ---------------------------------------


def test_the_components_defaults_are_the_declared_ones() -> None:
    from postmark_kit import flask as flask_ext
    from postmark_kit.receiver.config import DEFAULTS, ReceiverConfig
    from postmark_kit.receiver.journal import DEFAULT_JOURNAL, JournalSettings

    declared = {s.name: s.parse(None) for s in SETTINGS}
    assert {k: declared[k] for k in flask_ext.SETTINGS} == flask_ext.SETTINGS
    assert settings.defaults("receiver", "console", "journal") == DEFAULTS
    assert declared["POSTMARK_JOURNAL"] == DEFAULT_JOURNAL
    journal = JournalSettings.from_mapping({})
    assert journal == JournalSettings()
    assert (journal.max_attempts, journal.lease, journal.max_delay) == (
        declared["POSTMARK_JOURNAL_MAX_ATTEMPTS"],
        declared["POSTMARK_JOURNAL_LEASE"],
        declared["POSTMARK_JOURNAL_MAX_DELAY"],
    )
    config = ReceiverConfig.from_mapping({})
    assert config == ReceiverConfig(raw=config.raw)
    assert (config.max_body_bytes, config.failure_status, config.url_prefix) == (
        declared["POSTMARK_MAX_BODY_BYTES"],
        declared["POSTMARK_FAILURE_STATUS"],
        declared["POSTMARK_URL_PREFIX"],
    )


def test_celery_mode_reads_the_declarations() -> None:
    pytest.importorskip("celery")
    from postmark_kit.receiver.celery_dispatch import CELERY_DEFAULTS, CelerySettings

    assert settings.defaults("celery") == CELERY_DEFAULTS
    celery = CelerySettings.from_mapping({})
    assert celery.dedupe_ttl == setting("POSTMARK_DEDUPE_TTL").default
    assert celery.redis_url == celery.broker == setting("POSTMARK_CELERY_BROKER").default
    assert celery.time_limit == celery.visibility_timeout / 2
    assert celery.state_wait == CelerySettings(**_required(celery)).state_wait


def _required(celery: Any) -> dict[str, Any]:
    keys = (
        "broker",
        "redis_url",
        "queue",
        "max_retries",
        "retry_backoff",
        "key_prefix",
        "dedupe_ttl",
        "visibility_timeout",
    )
    return {k: getattr(celery, k) for k in keys}


def test_django_settings_are_the_declared_ones() -> None:
    pytest.importorskip("django")
    # No settings.configure() here: it is once per process, and the sending tests
    # configure Django (and set it up) for themselves.
    from postmark_kit.django import SETTINGS as DJANGO

    assert {f"POSTMARK_{k}" for k in DJANGO} == {s.name for s in settings.of("django")}


def test_track_links_choices_are_the_models() -> None:
    from postmark_kit.models.email import TrackLinks

    assert setting("POSTMARK_TRACK_LINKS").choices == tuple(t.value for t in TrackLinks)


@pytest.mark.slow  # a fresh interpreter (test_imports.py keeps one in the inner loop)
def test_the_settings_module_loads_no_flask_pluggy_or_click() -> None:
    probe = (
        "import postmark_kit.settings, sys\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'flask', 'pluggy', 'click'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


# -- the settings classes: each field fed by its declaration ---------------------------


def _settings_classes() -> list[Any]:
    """Every class built from :class:`~postmark_kit.settings.SettingFields`."""
    from postmark_kit.flask import PostmarkState
    from postmark_kit.receiver.config import ReceiverConfig
    from postmark_kit.receiver.journal import JournalSettings

    found: list[Any] = [ReceiverConfig, JournalSettings, PostmarkState]
    if importlib.util.find_spec("celery") is not None:
        from postmark_kit.receiver.celery_dispatch import CelerySettings

        found.append(CelerySettings)
    return found


def test_the_settings_classes_are_all_checked() -> None:
    """A class that reads settings with SettingFields is in _settings_classes."""
    uses = {
        str(path.relative_to(ROOT))
        for path in (ROOT / "postmark_kit").rglob("*.py")
        if path.name != "settings.py" and "SettingFields(" in path.read_text(encoding="utf-8")
    }
    checked = {
        str(Path(sys.modules[cls.__module__].__file__ or "").relative_to(ROOT))
        for cls in _settings_classes()
    }
    if importlib.util.find_spec("celery") is None:
        uses.discard("postmark_kit/receiver/celery_dispatch.py")
    assert uses == checked


@pytest.mark.parametrize("cls", _settings_classes(), ids=lambda c: c.__name__)
def test_each_settings_class_is_fed_by_its_declarations(cls: Any) -> None:
    """Every field has a declared setting (or is computed), every setting a field
    (or is read elsewhere): adding a setting is its declaration plus its field."""
    assert cls.setting_fields.problems(cls) == []


def test_the_field_naming_rule() -> None:
    assert settings.field_name("POSTMARK_MAX_BODY_BYTES") == "max_body_bytes"
    assert settings.field_name("POSTMARK_JOURNAL_LEASE") == "lease"
    assert settings.field_name("POSTMARK_CELERY_QUEUE") == "queue"
    assert settings.field_name("POSTMARK_DEDUPE_TTL") == "dedupe_ttl"
    assert setting("POSTMARK_CONSOLE_USERNAME").field == "console_username"
    # The declared exceptions.
    assert setting("POSTMARK_JOURNAL").field == "path"
    assert setting("POSTMARK_CELERY_REDIS").field == "redis_url"
    assert setting("POSTMARK_WEBHOOK_SECRET_HEADER").field == "secret_header"


def test_a_field_without_a_setting_or_a_setting_without_a_field_is_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import attrs

    from postmark_kit.receiver.journal import JournalSettings

    names = [f.name for f in attrs.fields(JournalSettings)]
    fields = settings.SettingFields(("journal",), elsewhere=["POSTMARK_PLUGIN_TIMEOUT"])
    extra = attrs.make_class("Extra", [*names, "spare"])
    assert fields.problems(extra) == [
        "Extra.spare is fed by no setting of journal"
        " (declare one with this field, or list the field as computed)"
    ]
    missing = attrs.make_class("Missing", [n for n in names if n != "lease"])
    assert fields.problems(missing) == [
        "POSTMARK_JOURNAL_LEASE feeds Missing.lease, which is no field of it"
        " (add the field, or list the setting as read elsewhere)"
    ]
    # Without its "read elsewhere", the plugin timeout would need a field.
    assert settings.SettingFields(("journal",)).problems(JournalSettings) == [
        "POSTMARK_PLUGIN_TIMEOUT feeds JournalSettings.plugin_timeout, which is no field of it"
        " (add the field, or list the setting as read elsewhere)"
    ]
    wrong = settings.SettingFields(
        ("journal",),
        computed=["lease", "nothing"],
        elsewhere=["POSTMARK_PLUGIN_TIMEOUT", "POSTMARK_CELERY_QUEUE"],
    )
    assert wrong.problems(JournalSettings) == [
        "POSTMARK_CELERY_QUEUE is listed as read elsewhere but is no setting of journal",
        "JournalSettings.lease is listed as computed but a setting feeds it",
        "JournalSettings.nothing is listed as computed but is no field of it",
    ]
    twin = settings.Setting(
        "POSTMARK_JOURNAL_LEASE_TOO", "float", 1.0, "x", ("journal",), field="lease"
    )
    monkeypatch.setattr(settings, "SETTINGS", (*SETTINGS, twin))
    assert fields.problems(JournalSettings) == [
        "JournalSettings.lease is fed by two settings:"
        " POSTMARK_JOURNAL_LEASE and POSTMARK_JOURNAL_LEASE_TOO"
    ]


def test_the_kwargs_are_the_values_by_field() -> None:
    fields = settings.SettingFields(("journal",), elsewhere=["POSTMARK_PLUGIN_TIMEOUT"])
    value = fields.read({"POSTMARK_JOURNAL_LEASE": "12", "POSTMARK_PLUGIN_TIMEOUT": "3"})
    kwargs = fields.kwargs(value)
    assert kwargs["lease"] == 12.0 and kwargs["path"] == setting("POSTMARK_JOURNAL").default
    assert "plugin_timeout" not in kwargs
    assert set(kwargs) == {s.field for s in settings.of("journal")} - {"plugin_timeout"}


# -- one DeadLetter type -------------------------------------------------------------


def test_journal_and_celery_mode_share_one_dead_letter_type() -> None:
    from postmark_kit.receiver.dispatch import DeadLetter
    from postmark_kit.receiver.journal import WebhookJournal

    hint = typing.get_type_hints(WebhookJournal.dead_letters)["return"]
    assert typing.get_args(hint) == (DeadLetter,)
    if importlib.util.find_spec("celery") is not None:
        from postmark_kit.receiver import celery_dispatch

        hint = typing.get_type_hints(celery_dispatch.dead_letters)["return"]
        assert typing.get_args(hint) == (DeadLetter,)
    package = (ROOT / "postmark_kit").rglob("*.py")
    sources = {path: path.read_text(encoding="utf-8") for path in package}
    defined = [
        str(path.relative_to(ROOT))
        for path, text in sources.items()
        # Only a text with "class <...DeadLetter...>" can define one: the others need no parsing.
        if re.search(r"\bclass\s+\w*DeadLetter", text)
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.ClassDef) and "DeadLetter" in node.name
    ]
    assert defined == ["postmark_kit/receiver/dispatch.py"]


# -- the docs' tables ------------------------------------------------------------------


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "settings_tables", ROOT / "docs" / "settings_tables.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_docs_settings_tables_are_generated_from_the_declarations() -> None:
    generator = _generator()
    pages = generator.pages()
    assert {p.name for p in pages} >= {
        "receiving.md",
        "reliability.md",
        "celery.md",
        "console.md",
        "flask.md",
        "cli.md",
        "settings.md",
    }
    assert generator.stale() == [], "run: python docs/settings_tables.py"
    everything = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    assert all(f"`{s.name}`" in everything for s in SETTINGS)


def test_a_hand_edited_table_is_caught(tmp_path: Path) -> None:
    generator = _generator()
    page = tmp_path / "page.md"
    page.write_text(
        "x\n<!-- settings-table: journal -->\n| stale |\n<!-- end settings-table -->\n",
        encoding="utf-8",
    )
    assert generator.stale(tmp_path) == [page]
    assert "`POSTMARK_JOURNAL_LEASE`" in generator.pages(tmp_path)[page]


def test_blank_text_settings_fall_back_to_their_default() -> None:
    """A whitespace-only ``POSTMARK_JOURNAL`` is unset, like ``""``: the default file."""
    journal = settings.setting("POSTMARK_JOURNAL")
    assert journal.parse("   ") == journal.parse("") == journal.parse(None) == journal.default
    assert settings.setting("POSTMARK_EVENT_STORE").parse(" \t") is None
