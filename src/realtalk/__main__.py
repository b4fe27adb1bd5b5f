"""``python -m realtalk``."""

import sys

from realtalk.cli import main

sys.exit(main())
