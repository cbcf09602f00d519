"""``python -m tripod.cli``: the same program as the ``tripod`` command."""

import sys

from tripod.cli import main

sys.exit(main())
