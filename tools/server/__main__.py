"""`python -m tools.server ...`: see tools/server/main.py."""
import sys

from tools.server.main import main

sys.exit(main(sys.argv[1:]))
