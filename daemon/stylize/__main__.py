import sys

from stylize.client.cli import main

sys.exit(main())
