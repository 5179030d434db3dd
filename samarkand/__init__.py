"""Samarkand: a hub for cross-border interbank payments settled in national currencies."""

__version__ = "0.1.0"
