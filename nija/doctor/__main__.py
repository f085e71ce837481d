"""Entry point of `python -m nija.doctor`."""

import sys

from nija.doctor.cli import main

sys.exit(main())
