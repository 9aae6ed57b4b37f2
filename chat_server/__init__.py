"""The chat server: agents, visitors, conversations, presence, routing, SLA, meetings, widget."""
