"""``python -m gunpy.actors URL``: the ``gunpy`` command (see `gunpy.actors.gun._cli`)."""

import sys

from gunpy.actors.gun._cli import main

sys.exit(main())
