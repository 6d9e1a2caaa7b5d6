"""`python -m lostops`: the same command line as the `lostops` entry point."""

from lostops.cli import main

main(prog_name="lostops")
