"""`python -m bot`: the same as the `arxiv-digest` command."""

import sys

from bot.main.cli import main

sys.exit(main())
