"""Everything venue-specific, nothing else: the `Broker` protocol and error taxonomy (`base`), the
fee table (`fees`), and one folder per family (`ccxt/`, `alpaca/`, `paper/`). Never imports the
store, the trading loops, the copy engine or the wiring above it (tests/test_layering.py)."""
