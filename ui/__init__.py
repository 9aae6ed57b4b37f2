"""Qt user interface of SDR Agent Desk: thin widgets, item models, tray and notifications."""
