"""PostgreSQL storage on its own: several processes on one database (seq, epoch, the writer lock),
migrations, and failures SQLite does not have (an aborted transaction, a lost connection)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import msgspec
import psycopg
import pytest

from agent_app import protocol as p
from chat_server.config import load_config
from chat_server.storage import describe, pg
from chat_server.storage.base import AgentRecord
from chat_server.storage.pg import PgConnection, PostgresStorage
from tests.pg import PgCluster


def _agent(agent_id: str) -> AgentRecord:
    return AgentRecord(p.Agent(id=agent_id, name=agent_id, email=f"{agent_id}@example.com"), "x")


def _events(storage: PostgresStorage, agent_id: str, n: int) -> list[int]:
    with storage.savepoint():
        seqs = [storage.append_event(agent_id, 0.0, lambda seq: b"%d" % seq)[0] for _ in range(n)]
    storage.commit_now()
    return seqs


@pytest.fixture
def two(pg_url: str) -> Iterator[tuple[PostgresStorage, PostgresStorage]]:
    """Two storages on one database: what two server processes have (nothing shared but the database)."""
    first = PostgresStorage(pg_url)
    second = PostgresStorage(pg_url)
    try:
        yield first, second
    finally:
        second.close()
        first.close()


def test_two_processes_share_one_gapless_event_stream_and_epoch(
    two: tuple[PostgresStorage, PostgresStorage],
) -> None:
    a, b = two
    assert a.epoch == b.epoch != ""
    assert _events(a, "sam", 3) == [1, 2, 3]
    assert _events(b, "sam", 2) == [4, 5]  # not 1, 2: the seq comes from the database, not from memory
    assert _events(a, "sam", 1) == [6]
    assert a.head_seq("sam") == b.head_seq("sam") == 6
    backlog = b.committed().events_after("sam", 0, 100)
    assert backlog is not None and [seq for seq, _ in backlog] == [1, 2, 3, 4, 5, 6]


def test_the_writer_lock_serialises_batches_of_different_processes(
    two: tuple[PostgresStorage, PostgresStorage],
) -> None:
    a, b = two
    with a.savepoint():
        a.add_agent(_agent("ann"))  # a's batch is open (and holds the writer lock) until a commits
    seen: list[object] = []
    done = threading.Event()

    def other_process() -> None:
        with b.savepoint():  # waits for a's batch: one writer at a time
            seen.append(b.get_agent("ann"))  # ... and then sees what a committed
            b.add_agent(_agent("bob"))
        b.commit_now()
        done.set()

    thread = threading.Thread(target=other_process)
    thread.start()
    try:
        assert not done.wait(0.5), "b wrote while a's batch was open"
        a.commit_now()
        assert done.wait(10)
    finally:
        a.commit_now()
        thread.join(10)
    assert seen and isinstance(seen[0], p.Agent) and seen[0].id == "ann"
    assert [x.id for x in a.list_agents()] == ["ann", "bob"]


def test_first_start_of_several_processes_migrates_once(pg_cluster: PgCluster) -> None:
    name = f"empty{threading.get_ident() % 100_000}"
    with pg_cluster.admin() as admin:
        admin.execute(f"CREATE DATABASE {name} TEMPLATE template0")
    url = pg_cluster.url(name)
    opened: list[PostgresStorage] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            opened.append(PostgresStorage(url))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    try:
        assert errors == [] and len(opened) == 4
        assert len({s.epoch for s in opened}) == 1
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT version FROM schema_version").fetchall() == [(1,)]
    finally:
        for storage in opened:
            storage.close()
        pg_cluster.drop_database(name)


def test_a_database_newer_than_the_server_is_refused(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO schema_version VALUES (999, 0)")
    with pytest.raises(psycopg.Error, match="newer than this server"):
        PostgresStorage(pg_url)


def test_a_swallowed_statement_error_fails_its_command_not_the_batch(pg_url: str) -> None:
    storage = PostgresStorage(pg_url)
    try:
        with storage.savepoint():
            storage.add_agent(_agent("ann"))
        with pytest.raises(psycopg.Error), storage.savepoint():
            storage.add_agent(_agent("bob"))
            try:
                storage.add_agent(_agent("ann"))  # duplicate: PostgreSQL aborts the transaction
            except psycopg.IntegrityError:
                pass  # ... and a command that carries on must not be committed half-done
        with storage.savepoint():
            storage.add_agent(_agent("cyd"))
        storage.commit_now()
        assert [a.id for a in storage.list_agents()] == ["ann", "cyd"]
        # An error outside any command leaves nothing to roll back to: the batch is lost, and no COMMIT
        # goes out on the aborted transaction (PostgreSQL would answer it with a silent ROLLBACK).
        storage.add_agent(_agent("dan"))
        with pytest.raises(psycopg.IntegrityError):
            storage.add_agent(_agent("ann"))
        with pytest.raises(psycopg.Error):
            storage.commit_now()
        assert [a.id for a in storage.list_agents()] == ["ann", "cyd"]
    finally:
        storage.close()


def test_a_lost_connection_fails_its_batch_and_the_next_one_reconnects(pg_url: str) -> None:
    storage = PostgresStorage(pg_url)
    try:
        with storage.savepoint():
            storage.add_agent(_agent("ann"))
            pid = storage._pg[0].raw.info.backend_pid
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(psycopg.Error):
            storage.commit_now()  # ann was never stored: her command must not be acked
        with storage.savepoint():
            storage.add_agent(_agent("bob"))
        storage.commit_now()
        assert [a.id for a in storage.list_agents()] == ["bob"]
        assert storage._pg[0].raw.info.backend_pid != pid
    finally:
        storage.close()


def test_storage_settings_are_checked_and_the_password_never_shown() -> None:
    with pytest.raises(ValueError, match="storage must be sqlite or postgres"):
        load_config(env={"SDR_SERVER_STORAGE": "mysql"})
    with pytest.raises(ValueError, match="database_url is not set"):
        load_config(env={"SDR_SERVER_STORAGE": "postgres"})
    url = "postgresql://sdr:s3cret-pw@db.example.com:5433/sdr"
    config = load_config(env={"SDR_SERVER_STORAGE": "postgres", "SDR_SERVER_DATABASE_URL": url})
    assert config.database_url == url
    shown = describe(config) + repr(config)
    assert "s3cret-pw" not in shown and "db.example.com" in shown and "5433" in shown


def test_the_adapter_speaks_sqlite_placeholders(pg_url: str) -> None:
    conn = PgConnection(pg_url)
    try:
        assert conn.execute("SELECT 'a%b'").fetchone() == ("a%b",)
        assert conn.execute("SELECT 'a%b', ?::int", (7,)).fetchone() == ("a%b", 7)
        assert conn.execute("SELECT 1 WHERE NULL::text IS ?", (None,)).fetchall() == [(1,)]
        assert conn.execute("SELECT 1 WHERE 'x'::text IS ?", ("x",)).fetchall() == [(1,)]
        assert conn.execute("SELECT 1 WHERE 'x'::text IS ?", (None,)).fetchall() == []
        assert not conn.in_transaction
    finally:
        conn.close()


def test_after_a_lost_connection_nothing_of_the_batch_runs_on_a_fresh_one(pg_url: str) -> None:
    storage = PostgresStorage(pg_url)
    try:
        with pytest.raises(psycopg.Error), storage.savepoint():
            storage.add_agent(_agent("ann"))
            with psycopg.connect(pg_url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (storage._pg[0].raw.info.backend_pid,))
            try:
                storage.add_agent(_agent("bob"))  # the connection is gone ...
            except psycopg.OperationalError:
                pass  # ... and a command that swallows that must not write outside its transaction, e.g.
            storage.conn.execute("INSERT INTO meta VALUES ('cyd', 'x')")  # as SlaStore writes: no _begin()
        with pytest.raises(psycopg.Error):
            storage.commit_now()
        assert storage.list_agents() == []
        assert storage.conn.execute("SELECT count(*) FROM meta WHERE key='cyd'").fetchone() == (0,)
        with storage.savepoint():
            storage.add_agent(_agent("dan"))
        storage.commit_now()
        assert [a.id for a in storage.list_agents()] == ["dan"]
    finally:
        storage.close()


def test_round_trips_per_command_do_not_grow_with_the_agents_it_notifies(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A message seen by 20 agents is 20 event rows: they go out with the RELEASE and the COMMIT, and the
    stream heads come from the process's cache while no other process appended events."""
    storage = PostgresStorage(pg_url)
    trips: list[bytes] = []
    run = PgConnection._run

    def counted(self: PgConnection, query: bytes, params: object, many: bool) -> object:
        trips.append(query)
        return run(self, query, params, many)

    monkeypatch.setattr(PgConnection, "_run", counted)
    try:

        def command(i: int) -> None:
            with storage.savepoint():
                storage.put_command_result("v1", f"c{i}", 0.0, b"ack")
                for agent in range(20):
                    storage.append_event(f"agent{agent}", 0.0, lambda seq: b"e%d" % seq)
            storage.commit_now()

        command(0)
        trips.clear()
        command(1)
        # BEGIN (+ lock, + writer token); COMMIT (+ SAVEPOINT, the idempotency row, 20 event rows, RELEASE)
        assert len(trips) == 2, trips
        trips.clear()
        with storage.savepoint():
            pass  # a command that wrote nothing: its SAVEPOINT and RELEASE are never sent
        storage.commit_now()
        assert len(trips) == 2, trips
        backlog = storage.committed().events_after("agent7", 0, 10)
        assert backlog == [(1, b"e1"), (2, b"e2")]
    finally:
        storage.close()


def test_a_command_that_succeeds_sends_no_savepoint_and_one_that_fails_leaves_the_others(pg_url: str) -> None:
    """A command's SAVEPOINT still queued when it succeeded is never sent (nor its RELEASE): its writes go
    with the COMMIT. A later command that fails takes back only what it queued."""
    storage = PostgresStorage(pg_url)
    try:
        with storage.savepoint():  # the stream's head is read once (a read: the savepoint goes out with it)
            storage.append_event("agent1", 0.0, lambda seq: b"e%d" % seq)
        storage.commit_now()
        with storage.savepoint():
            storage.put_command_result("v1", "ok", 0.0, b"ack")
            storage.append_event("agent1", 0.0, lambda seq: b"e%d" % seq)
        queued = [query for query, _, _ in storage._pg[0]._queue]
        assert len(queued) == 2 and not any(q.startswith((b"SAVEPOINT", b"RELEASE")) for q in queued), queued
        with pytest.raises(RuntimeError), storage.savepoint():
            storage.put_command_result("v1", "refused", 0.0, b"ack")
            raise RuntimeError("the command fails")
        storage.commit_now()
        assert storage.committed().command_result("v1", "ok") == b"ack"
        assert storage.committed().command_result("v1", "refused") is None
        assert storage.committed().events_after("agent1", 0, 10) == [(1, b"e1"), (2, b"e2")]
    finally:
        storage.close()


def _said(message_id: str, conversation_id: str, text: str, at: float) -> p.Message:
    return p.Message(
        id=message_id,
        conversation_id=conversation_id,
        author_kind=p.AuthorKind.VISITOR,
        text=text,
        created_at=at,
    )


def test_a_batchs_writes_go_out_one_statement_per_kind_and_store_the_same(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Messages, conversations (new and updated), idempotency rows and event rows of a whole batch become
    one statement each in the COMMIT's round trip: same rows, same message order, the last update wins."""
    storage = PostgresStorage(pg_url)
    sent: list[list[bytes]] = []
    merge = pg.coalesce

    def watched(queue: list[tuple[bytes, object, bool]]) -> list[tuple[bytes, object, bool]]:
        merged = merge(queue)
        sent.append([query for query, _, _ in merged])
        return merged

    monkeypatch.setattr(pg, "coalesce", watched)
    try:
        visitor = p.Visitor(id="v1")
        storage.add_visitor(visitor, "token-hash")
        old = p.Conversation(id="c1", visitor=visitor, created_at=1.0)
        storage.add_conversation(old)
        with storage.savepoint():  # the event stream's head is read once (a read: sent with it)
            storage.append_event("agent1", 0.0, lambda seq: b"e%d" % seq)
        storage.commit_now()
        sent.clear()
        for i in range(3):
            with storage.savepoint():
                storage.add_message(_said(f"m{i}", "c1", f"hello {i}", 5.0))
                storage.save_conversation(msgspec.structs.replace(old, message_count=i + 1))
                storage.put_command_result("visitor:v1", f"cmd{i}", 0.0, b"ack%d" % i)
                storage.append_event("agent1", 0.0, lambda seq: b"e%d" % seq)
        with storage.savepoint():
            new = p.Conversation(id="c2", visitor=visitor, created_at=2.0)
            storage.add_conversation(new)
            storage.add_message(_said("n0", "c2", "again", 6.0))
            storage.save_conversation(msgspec.structs.replace(new, message_count=1))
        storage.commit_now()
        statements = [b" ".join(query.split()[:3]) for query in sent[-1]]
        assert statements == [
            b"INSERT INTO conversations", b"UPDATE conversations AS", b"INSERT INTO messages",
            b"INSERT INTO commands", b"INSERT INTO events", b"INSERT INTO meta",
        ], sent[-1]  # fmt: skip
        view = storage.committed()
        texts = [m.text for m in view.messages("c1", None, 10, True)[0]]
        assert texts == ["hello 0", "hello 1", "hello 2"]  # same created_at: the insert order decides
        c1, c2 = view.get_conversation("c1"), view.get_conversation("c2")
        assert c1 is not None and c1.message_count == 3
        assert c2 is not None and c2.message_count == 1
        assert view.latest_conversation("v1") == c2
        assert [view.command_result("visitor:v1", f"cmd{i}") for i in range(3)] == [b"ack0", b"ack1", b"ack2"]
        assert view.events_after("agent1", 0, 10) == [(1, b"e1"), (2, b"e2"), (3, b"e3"), (4, b"e4")]
    finally:
        storage.close()
