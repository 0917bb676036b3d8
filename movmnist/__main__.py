"""`python -m movmnist` is the `movmnist` command."""

from movmnist.cli import main

main()
