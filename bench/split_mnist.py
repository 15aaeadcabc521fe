"""`make bench` entry point: the Split-MNIST accuracy suite, seeds 0,1,2 (see bench/accuracy.py)."""

import sys

from .accuracy import main

if __name__ == "__main__":
    sys.exit(main(["--suite", "split-mnist", "--seeds", "0,1,2", *sys.argv[1:]]))
