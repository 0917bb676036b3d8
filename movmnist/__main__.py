"""`python -m movmnist`: the same command line as the `movmnist` script."""

from movmnist.cli import main

if __name__ == "__main__":
    main()
