"""SDR Agent Desk client core: protocol, session, store, integrations. Never imports PySide6."""
