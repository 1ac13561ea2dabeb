"""Django, configured once for the sending tests (settings are process-wide in Django)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import API, SERVER_TOKEN

#: What the Django tests start from; each test changes it with override_settings.
DJANGO_SETTINGS = {
    "EMAIL_BACKEND": "postmark_kit.django.EmailBackend",
    "DEFAULT_FROM_EMAIL": "Webmaster <webmaster@example.com>",
    "SERVER_EMAIL": "server@example.com",
    "ADMINS": [("Admin", "admin@example.com")],
    "POSTMARK": {"SERVER_TOKEN": SERVER_TOKEN, "BASE_URL": API},
    "INSTALLED_APPS": [],
    "USE_TZ": True,
}


@pytest.fixture(scope="session")
def django_configured() -> None:
    """``settings.configure`` once per test process (a second call would raise)."""
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(**DJANGO_SETTINGS)
        django.setup()


@pytest.fixture
def django_settings(django_configured: None) -> Iterator[None]:
    """The baseline settings for one test (whatever the last test overrode is undone)."""
    from django.core import mail
    from django.test.utils import override_settings

    with override_settings(**DJANGO_SETTINGS):
        yield
    # django.core.mail.outbox only exists under the locmem backend; never left behind.
    if hasattr(mail, "outbox"):
        del mail.outbox
