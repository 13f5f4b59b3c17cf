import sys

from covidnb.cli import main

sys.exit(main())
