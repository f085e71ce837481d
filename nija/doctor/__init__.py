"""`python -m nija.doctor`: a preflight of every configured account before it trades.

One module per job: `accounts` (which accounts, built by NIJA's own factory), `checks` (the
checks of one account, in order), `report` (findings, tables, JSON, exit code), `cli` (the
command). Venue-specific questions go through `nija.brokers.preflight` probes. Never places a
real order, never moves money, never prints a secret.
"""

from nija.doctor.cli import main

__all__ = ["main"]
