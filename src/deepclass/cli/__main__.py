import sys

from deepclass.cli import main

sys.exit(main())
