"""Lead qualification (CQL): the header bolts, their history, and the CQL report view."""
