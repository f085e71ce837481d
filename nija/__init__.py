"""NIJA: a multi-broker APEX v7.1 trading daemon with copy trading; paper mode by default."""

__version__ = "0.1.0"
