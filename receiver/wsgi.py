"""WSGI entry point of the standalone receiver: ``gunicorn -c receiver/gunicorn.conf.py receiver.wsgi:app``.

Settings come from ``POSTMARK_*`` environment variables (see ``example.env``).
"""

from postmark_kit.receiver import create_app

app = create_app()
