"""`python -m stylegram ...` is the same as the `stylegram` command."""
from .cli import main

main()
