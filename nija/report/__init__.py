"""`python -m nija.report`: who made or lost what, and did every follower get what the master got.

Reads the store only (read-only; never an exchange, never the daemon): `collect` gathers, pure
arithmetic lives in `figures`, `statement` is a follower's month with its performance fee,
`render`/`files` print and write, `backup` copies the store while the daemon runs.
"""
