"""gunicorn settings for the standalone receiver (every value can be overridden by env)."""

import os

from postmark_kit.receiver.cli import gunicorn_logconfig, line_buffered
from postmark_kit.receiver.gunicorn_hooks import post_request  # noqa: F401  (a server hook)

# Listen on loopback: a TLS-terminating reverse proxy (nginx, Caddy) sits in front.
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
# Postmark waits up to 2 minutes for an answer; plugins must finish well within it.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
graceful_timeout = 30
# No keep-alive behind the proxy (nginx talks HTTP/1.0 to upstreams by default
# anyway): after each answer the connection closes, so a refused request's body
# is never drained.  With keep-alive, gunicorn reads a body the app refused
# before it reuses the connection, and 16 peers trickling one byte a second
# held every worker thread (each for up to 5 s per drain).
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "0"))
# Build the app in each worker (own SQLite connection and HTTP pool), not in the master.
preload_app = False
# Only trust X-Forwarded-* from the local proxy.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# Access log on stdout; gunicorn's messages, the receiver's (one line per event with
# POSTMARK_LOG_EVENTS) and plugin errors on stderr, each with time, pid and level.
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
logconfig_dict = gunicorn_logconfig(loglevel)
line_buffered()  # each line out at once, even into a pipe
# gunicorn 25+ opens a control socket ($HOME/.gunicorn without XDG_RUNTIME_DIR);
# older versions ignore the setting.
control_socket_disable = True
# Bodies can be ~50 MB (inbound attachments): no request-line/header tweaks needed,
# the body limit is POSTMARK_MAX_BODY_BYTES.
