"""Run Spotlight: `python run_bot.py` (Discord when DISCORD_TOKEN is set) or `--console`.

Configuration comes from the environment and `.env` (see .env.example); the work is done
in bot/app.py so this file stays a launcher.
"""

import sys

from bot.app import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
