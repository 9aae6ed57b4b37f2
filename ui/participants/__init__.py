"""Participants: add a teammate to a conversation (the server's aligned SDR first), or hand the chat off."""
