"""`python -m videocli ...`: the same as the `video` command."""

import sys

from videocli.cli import main

sys.exit(main())
