import sys

from index.cli import run

sys.exit(run())
