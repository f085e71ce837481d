"""`python -m nija.backtest`: candle files through the daemon's own loop, on a replay clock.

`candles` loads and checks the files, `engine` replays one symbol through `BrokerLoop.run_cycle`
(paper broker, execution, a store in memory), `series` lets the strategy decide from its
whole-series evaluation, `signals` and `quiet` find the flat and held candles a cycle would
leave alone, `fills` states the fill model, `trades` and `report` are the pure
arithmetic, `runner` runs symbols in processes, `sweep` the walk-forward grid, `outputs` the
table, JSON, CSV files and chart, `synthetic` long seeded series for benchmarks and tests.
"""
