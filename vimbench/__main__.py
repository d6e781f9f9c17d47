import sys

from vimbench.cli import main

sys.exit(main())
