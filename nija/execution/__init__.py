"""The one order lifecycle, for masters, followers, manual trades and backtests.

intent stored → sent → venue report with fills → fills recorded once → positions from fills →
(masters) copy signals, all of an answer in one store transaction. `booking` turns answers into
that transaction, `sending` and `lookup` talk to the venue, `executor` runs one account's orders.
"""
