"""The entry point of the self-contained `kubectl-espia` that `make krew` builds."""

import sys

from espia.kubectl.main import main

sys.exit(main())
