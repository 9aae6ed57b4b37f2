"""The SDR's day, end to end: main.py's composition on a real X desktop (see conftest.py)."""
