"""Settings dialogs reached from the presence (account) menu."""
