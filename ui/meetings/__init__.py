"""The Meetings view: upcoming meetings booked for me (the morning review)."""
