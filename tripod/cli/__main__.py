"""``python -m tripod.cli``: the same program as the ``tripod`` command."""

import sys

from tripod.cli import main

if __name__ == "__main__":  # importing this module (rather than running it) does nothing
    sys.exit(main())
