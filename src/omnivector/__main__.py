"""``python -m omnivector``: the command-line interface."""

import sys

from omnivector.cli import main

sys.exit(main())
