"""The simulator: a ``SimulatorState`` (the account) and its HTTP API (``create_wsgi_app``).

Rules where Postmark depends on the outside world, chosen to be deterministic:

- **Fake DNS.** Every name holds exactly the records Postmark asked for, except
  names under ``.invalid`` (RFC 2606: never resolves), which hold none.  So a
  verify call (domain ``verifyDkim``/``verifyReturnPath``/``verifyspf``, sender
  ``verifyspf``) succeeds at once, and on an ``.invalid`` domain leaves the flag
  false.  Domains created through the API start unverified with their first DKIM
  key pending; ``verifyDkim`` makes the pending key current (after a rotation the
  old key moves to ``DKIMRevoked*`` with ``SafeToRemoveRevokedKeyFromDNS``).
  ``rotatedkim``/``requestnewdkim`` while a key is pending is 422/505.
- **Servers.** Server #1 is the simulated server (the state's server token);
  ``POST /servers`` adds servers with their own ``ApiTokens`` and templates (for
  template push), but server-token endpoints serve server #1 only (another
  server's token is 401/10 there).  Deleting a server is 422/604 as on an
  account where support has not enabled it, until
  ``state.allow_server_delete = True``; server #1 itself is 422/605.
- **Template push** matches templates by alias (case-insensitive); templates
  without an alias are not pushed, identical ones are not listed.  ``TemplateId``
  in the answer is the source template's.  ``PerformChanges: false`` changes
  nothing.
- **Data removals** are ``Pending`` when created and on the first
  ``DATA_REMOVAL_PENDING_READS`` status reads, ``Done`` after; at that moment every
  message, event, bounce, suppression and inbound email of the address is erased.
- **Breakdown stats** count the simulated opens/clicks (``Platform``,
  ``Client.Family``, ``ReadSeconds`` bucketed ``0s``..``19s``/``20s+``,
  ``ClickLocation``) per day, filtered like the other stats.
"""

from .app import UNSIMULATED_OPERATIONS, SimulatorApp, create_app, create_wsgi_app
from .records import HARD_BOUNCE_ADDRESS, SOFT_BOUNCE_ADDRESS, ApiFailure, SimulationError
from .rules import BOUNCE_TESTING_DOMAIN, BOUNCE_TYPES, bounce_address
from .state import SimulatorState

__all__ = [
    "BOUNCE_TESTING_DOMAIN",
    "BOUNCE_TYPES",
    "HARD_BOUNCE_ADDRESS",
    "SOFT_BOUNCE_ADDRESS",
    "UNSIMULATED_OPERATIONS",
    "ApiFailure",
    "SimulationError",
    "SimulatorApp",
    "SimulatorState",
    "bounce_address",
    "create_app",
    "create_wsgi_app",
]
