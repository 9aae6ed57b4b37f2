"""``python -m chat_server``: see chat_server.cli."""

from chat_server.cli import main

raise SystemExit(main())
