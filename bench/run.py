"""Run the SPEC R20.1 benchmark: ``.venv/bin/python bench/run.py [--quick] [--out FILE]``.

Direct-to-mock versus through-the-gateway on pinned cores with wrk; see bench/README.md.
"""

import sys
from pathlib import Path

if __name__ == "__main__":
    # Run as a script, Python puts bench/ first on the path; the package needs the repository.
    sys.path[0] = str(Path(__file__).resolve().parents[1])
    from bench.suite import main

    sys.exit(main())
