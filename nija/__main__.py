"""`python -m nija` runs the daemon (start.sh calls it); `python -m nija --help` prints usage."""

import sys

from nija.malloc_env import reexec_with_daemon_malloc

reexec_with_daemon_malloc()  # first: glibc reads these settings only when a process starts

from nija.app import main  # noqa: E402

sys.exit(main(sys.argv[1:]))
