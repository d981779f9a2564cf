"""ToRouter versus the LiteLLM proxy: ``.venv/bin/python bench/litellm.py [--seconds N]``.

Installs the pinned LiteLLM into .venvs/litellm on first use; see bench/peer.py and
bench/README.md. Not run by CI.
"""

import sys
from pathlib import Path

if __name__ == "__main__":
    # Run as a script, Python puts bench/ first on the path (where this very file would shadow
    # the real `litellm`); the package needs the repository instead.
    sys.path[0] = str(Path(__file__).resolve().parents[1])
    from bench.peer import main

    sys.exit(main())
