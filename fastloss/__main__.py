import sys

from fastloss.cli import main

sys.exit(main())
