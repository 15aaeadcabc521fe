import sys

from clcore.cli import main

sys.exit(main())
