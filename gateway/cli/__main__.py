"""``python -m gateway.cli``: the ``ocr-gateway`` command."""

import sys

from gateway.cli import main

sys.exit(main())
