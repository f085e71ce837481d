"""`python -m nija` runs the daemon (start.sh calls it); `python -m nija --help` prints usage."""

import sys

from nija.app import main

sys.exit(main(sys.argv[1:]))
