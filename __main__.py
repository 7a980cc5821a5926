"""The Pulumi program: every stack is described by its config (see components/program.py)."""

from components.program import main

main()
