"""`python -m stylize`: the CLI."""

import sys

from stylize.client.cli import main

sys.exit(main())
