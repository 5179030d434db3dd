"""`python -m samarkand`."""

from samarkand.cli import main

main()
