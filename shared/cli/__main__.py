"""``python -m shared.cli``: the same as the ``smguard`` command."""

import sys

from shared.cli import main

sys.exit(main())
