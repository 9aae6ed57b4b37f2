"""The cluster's own tables and the doorbell triggers on the storage's event log (PostgreSQL)."""

from __future__ import annotations

# Channels: the doorbells carry no data (the log is the truth); sdr_now carries ephemeral frames.
EVENTS = "sdr_events"
VISITORS = "sdr_visitors"
NOW = "sdr_now"
CANARY = "sdr_canary"
CHANNELS = (EVENTS, VISITORS, NOW, CANARY)

# Advisory lock keys (any two constants distinct from the storage's write lock).
SCHEMA_LOCK = 0x5D4C0001
LEADER_LOCK = 0x5D4C0002

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS cluster_processes (
    process_id text PRIMARY KEY,
    address text NOT NULL DEFAULT '',
    started_at double precision NOT NULL,
    heartbeat_at double precision NOT NULL
);
CREATE TABLE IF NOT EXISTS cluster_presence (
    process_id text NOT NULL,
    agent_id text NOT NULL,
    connections integer NOT NULL,
    PRIMARY KEY (process_id, agent_id)
);
CREATE TABLE IF NOT EXISTS visitor_frames (
    n bigserial PRIMARY KEY,
    origin text NOT NULL,
    visitor_id text NOT NULL,
    frame bytea NOT NULL,
    at double precision NOT NULL
);
CREATE OR REPLACE FUNCTION sdr_doorbell() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- One notification per transaction and channel: PostgreSQL folds identical ones, and sends them only
    -- at commit (never for a rolled-back batch). The payload names the committing backend, so the process
    -- that wrote the batch (and delivered it to its own sockets after commit) skips its own doorbell.
    PERFORM pg_notify(TG_ARGV[0], pg_backend_pid()::text);
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER sdr_events_doorbell AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION sdr_doorbell('{EVENTS}');
CREATE OR REPLACE TRIGGER sdr_visitor_frames_doorbell AFTER INSERT ON visitor_frames
    FOR EACH STATEMENT EXECUTE FUNCTION sdr_doorbell('{VISITORS}');
"""
