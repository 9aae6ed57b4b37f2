"""Calendar sharing: the composer button and the "My Calendar" settings dialog."""
