"""Tests of samarkand.money (a package, so test module names cannot clash with other folders)."""
