"""Generic widgets shared by the feature folders (status dot, banner, presence menu, empty state)."""
