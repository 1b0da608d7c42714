"""What every command shares: one-line errors and a non-zero exit status instead of tracebacks."""

from __future__ import annotations

import sys
from collections.abc import Callable


def run_command(main: Callable[[], int | None], prog: str) -> None:
    """Run ``main`` and exit with its status; an error becomes ``prog: error: message`` and status 1."""
    try:
        status = main()
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        sys.exit(130)
    except (OSError, ValueError, RuntimeError) as error:
        message = " ".join(str(error).split()) or type(error).__name__
        print(f"{prog}: error: {message}", file=sys.stderr)
        sys.exit(1)
    sys.exit(status or 0)
