"""`python -m rehearsal [--short] [--template PATH]` (`make rehearse`)."""

from __future__ import annotations

import sys

from rehearsal.run import main

if __name__ == "__main__":
    sys.exit(main())
