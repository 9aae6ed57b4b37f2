"""Participants: add a teammate to a conversation (aligned SDR first), hand off, or remove one."""
