"""python -m faulthandler_auto: the faulthandler-auto command."""
import sys

from faulthandler_auto.cli import main

if __name__ == "__main__":
    sys.exit(main())
