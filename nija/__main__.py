"""`python -m nija` runs the daemon (start.sh calls it)."""

import sys

from nija.app import main

sys.exit(main())
