"""The simulator's CLI commands and the pytest plugin, as users meet them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
import requests

pytest_plugins = ["pytester"]


@pytest.mark.slow  # a CLI subprocess (fake-server), stopped with SIGINT
def test_fake_server_serves_until_interrupted() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "postmark_kit.cli",
            "fake-server",
            "--quiet",
            "--server-token",
            "cli-token",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        base_url = first.rsplit(" ", 1)[1].strip()
        assert base_url.startswith("http://127.0.0.1:")
        resp = requests.get(
            f"{base_url}/server", headers={"X-Postmark-Server-Token": "cli-token"}, timeout=5
        )
        assert resp.status_code == 200 and resp.json()["ApiTokens"] == ["cli-token"]
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0


def test_plugin_fixtures_in_a_user_suite(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from postmark_kit.errors import InactiveRecipientError
        from postmark_kit.models.email import Email

        def send(fake, client, to):
            return client.email.send(Email(from_email=fake.sender_email, to=to, text_body="hi"))

        def test_send_and_search(postmark_fake, postmark_client):
            sent = send(postmark_fake, postmark_client, "hardbounce@bounce-testing.postmarkapp.com")
            assert postmark_client.outbound.list().items[0].message_id == sent.message_id
            with pytest.raises(InactiveRecipientError):
                send(postmark_fake, postmark_client, "hardbounce@bounce-testing.postmarkapp.com")

        def test_state_is_reset_between_tests(postmark_fake, postmark_client):
            assert postmark_client.outbound.list().total == 0
            send(postmark_fake, postmark_client, "hardbounce@bounce-testing.postmarkapp.com")
        """
    )
    # Without Hypothesis' plugin: its summary imports Hypothesis (a second) even for this suite.
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:hypothesispytest")
    result.assert_outcomes(passed=2)
