"""Icons and other assets, loaded by name through ui/style (a package only so that installs carry it)."""
