"""``python -m agui_state``: see :mod:`agui_state.cli`."""

import sys

from agui_state.cli import main

sys.exit(main())
