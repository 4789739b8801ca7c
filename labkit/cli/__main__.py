"""`python -m labkit.cli …`, as consumer processes are started (their command line is how they are recognised)."""

import sys

from labkit.cli import main

sys.exit(main())
