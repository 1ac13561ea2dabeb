"""The CLI's support commands (templates, bounces, suppressions, webhooks, account).

Each module defines click commands registered on ``postmark-kit`` by
:mod:`postmark_kit.cli`; :mod:`.common` holds what they share.
"""
