import sys

from stemprover.cli import main

sys.exit(main())
