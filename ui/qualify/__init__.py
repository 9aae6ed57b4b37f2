"""Lead qualification (CQL): the header bolts and their history (the CQL figures are in ui/reports)."""
