"""`python -m samarkand`."""

from samarkand.cli import main

if __name__ == "__main__":  # not in a process `multiprocessing` starts from this one
    main()
