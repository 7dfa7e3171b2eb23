"""``python -m genrec.report.results``: see :mod:`genrec.report.results`."""

import sys

from genrec.report.results.page import main

sys.exit(main())
