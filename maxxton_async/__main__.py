"""``python -m maxxton_async`` runs the ``maxxton-async`` command."""

import sys

from .cli import main

sys.exit(main())
