"""attrs models of Postmark's requests and responses, one module per area."""

from .bounces import *  # noqa: F403
from .common import *  # noqa: F403
from .data_removals import *  # noqa: F403
from .domains import *  # noqa: F403
from .email import *  # noqa: F403
from .inbound_rules import *  # noqa: F403
from .message_streams import *  # noqa: F403
from .messages import *  # noqa: F403
from .senders import *  # noqa: F403
from .servers import *  # noqa: F403
from .stats import *  # noqa: F403
from .suppressions import *  # noqa: F403
from .templates import *  # noqa: F403
from .webhooks import *  # noqa: F403
