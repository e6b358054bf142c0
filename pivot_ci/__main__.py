"""`python -m pivot_ci`."""

from pivot_ci.cli import main

main()
