"""Several server processes on one PostgreSQL database: doorbell fan-out, presence, leader lease, canary."""
