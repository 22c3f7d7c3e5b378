"""Versioned, forward-only schema migrations for SQLite and PostgreSQL.

The schema is an ordered list of :class:`Migration`, each with the SQL for both
engines. A table ``schema_migrations`` records which versions a database has.
At start-up (and by ``bastion db upgrade``) every missing version is applied in
order, each in its own transaction together with its record, under a lock that
serialises replicas starting at once (PostgreSQL: an advisory lock per schema;
SQLite: ``BEGIN IMMEDIATE``, the file's write lock).

Rules for whoever adds a table or a column:

* Append a new :class:`Migration` with the next version to :data:`MIGRATIONS`;
  never edit one that has shipped (databases in the field already ran it).
* Forward only: no down-migrations. A column is added with a default (or
  nullable) so rows written by older replicas during a rolling upgrade stay valid.
* A database whose newest version is higher than this code knows is refused
  with :class:`SchemaTooNew` (an older Bastion must not write to a newer schema).

Version 1 is the schema that existed before migrations; it uses ``IF NOT EXISTS``
so a database created by an older release is adopted as it is.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from bastion.privacy.schema import PRIVACY_POSTGRES, PRIVACY_SQLITE


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sqlite: str
    postgres: str


class SchemaError(RuntimeError):
    """The database's schema cannot be used by this code (a sentence for a person)."""


class SchemaTooNew(SchemaError):
    pass


class SchemaBehind(SchemaError):
    """Migrations are pending and automatic migration is off."""


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "keys, key hashes, usage log, meta", sqlite="""
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS keys (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, prefix TEXT NOT NULL, created_at REAL NOT NULL,
  user TEXT, team TEXT, models TEXT, rpm INTEGER, tpm INTEGER, budget_usd REAL,
  expires_at REAL, revoked_at REAL, metadata TEXT NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS key_hashes (
  hash TEXT PRIMARY KEY, key_id TEXT NOT NULL REFERENCES keys(id), valid_until REAL);
CREATE INDEX IF NOT EXISTS key_hashes_key ON key_hashes(key_id);
CREATE TABLE IF NOT EXISTS usage (
  ts REAL NOT NULL, request_id TEXT NOT NULL, key_id TEXT, user TEXT, team TEXT,
  alias TEXT NOT NULL, target TEXT, status INTEGER NOT NULL, prompt_tokens INTEGER NOT NULL,
  completion_tokens INTEGER NOT NULL, cost_usd REAL NOT NULL, latency_ms REAL NOT NULL,
  error_code TEXT, cached INTEGER NOT NULL, degraded TEXT);
CREATE INDEX IF NOT EXISTS usage_key ON usage(key_id);
CREATE INDEX IF NOT EXISTS usage_user ON usage(user);
""", postgres="""
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS keys (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, prefix TEXT NOT NULL,
  created_at DOUBLE PRECISION NOT NULL, user_id TEXT, team TEXT, models TEXT[], rpm INTEGER,
  tpm INTEGER, budget_usd DOUBLE PRECISION, expires_at DOUBLE PRECISION,
  revoked_at DOUBLE PRECISION, metadata JSONB NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS key_hashes (
  hash TEXT PRIMARY KEY, key_id TEXT NOT NULL REFERENCES keys(id),
  valid_until DOUBLE PRECISION);
CREATE INDEX IF NOT EXISTS key_hashes_key ON key_hashes(key_id);
CREATE TABLE IF NOT EXISTS usage (
  ts DOUBLE PRECISION NOT NULL, request_id TEXT NOT NULL, key_id TEXT, user_id TEXT,
  team TEXT, alias TEXT NOT NULL, target TEXT, status INTEGER NOT NULL,
  prompt_tokens BIGINT NOT NULL, completion_tokens BIGINT NOT NULL,
  cost_usd DOUBLE PRECISION NOT NULL, latency_ms DOUBLE PRECISION NOT NULL,
  error_code TEXT, cached BOOLEAN NOT NULL, degraded TEXT);
CREATE INDEX IF NOT EXISTS usage_key ON usage(key_id);
CREATE INDEX IF NOT EXISTS usage_user ON usage(user_id);
"""),
    Migration(2, "audit log", sqlite="""
CREATE TABLE audit_log (
  id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, actor TEXT NOT NULL,
  action TEXT NOT NULL, target TEXT, source TEXT, detail TEXT NOT NULL DEFAULT '{}');
CREATE INDEX audit_log_ts ON audit_log(ts);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
""", postgres="""
CREATE TABLE audit_log (
  id BIGSERIAL PRIMARY KEY, ts DOUBLE PRECISION NOT NULL, actor TEXT NOT NULL,
  action TEXT NOT NULL, target TEXT, source TEXT, detail JSONB NOT NULL DEFAULT '{}');
CREATE INDEX audit_log_ts ON audit_log(ts);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
"""),
    Migration(3, "admin accounts and their tokens", sqlite="""
CREATE TABLE admin_accounts (
  name TEXT PRIMARY KEY, role TEXT NOT NULL, password_hash TEXT NOT NULL,
  created_at REAL NOT NULL, disabled_at REAL);
CREATE TABLE admin_tokens (
  id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE,
  account TEXT NOT NULL REFERENCES admin_accounts(name), role TEXT NOT NULL,
  kind TEXT NOT NULL, label TEXT, created_at REAL NOT NULL, expires_at REAL,
  revoked_at REAL);
CREATE INDEX admin_tokens_account ON admin_tokens(account);
""", postgres="""
CREATE TABLE admin_accounts (
  name TEXT PRIMARY KEY, role TEXT NOT NULL, password_hash TEXT NOT NULL,
  created_at DOUBLE PRECISION NOT NULL, disabled_at DOUBLE PRECISION);
CREATE TABLE admin_tokens (
  id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE,
  account TEXT NOT NULL REFERENCES admin_accounts(name), role TEXT NOT NULL,
  kind TEXT NOT NULL, label TEXT, created_at DOUBLE PRECISION NOT NULL,
  expires_at DOUBLE PRECISION, revoked_at DOUBLE PRECISION);
CREATE INDEX admin_tokens_account ON admin_tokens(account);
"""),
    Migration(4, "usage: outcome (served, refused, failed, cancelled, cut) and a row key that "
                 "makes retried writes land once", sqlite="""
ALTER TABLE usage ADD COLUMN outcome TEXT;
ALTER TABLE usage ADD COLUMN row_id TEXT;
CREATE UNIQUE INDEX usage_row_id ON usage(row_id);
""", postgres="""
ALTER TABLE usage ADD COLUMN outcome TEXT;
ALTER TABLE usage ADD COLUMN row_id TEXT;
CREATE UNIQUE INDEX usage_row_id ON usage(row_id);
"""),
    Migration(5, "usage: the A/B experiment arm of each request", sqlite="""
ALTER TABLE usage ADD COLUMN arm TEXT;
""", postgres="""
ALTER TABLE usage ADD COLUMN arm TEXT;
"""),
    Migration(6, "human review queue; each request's decisions on its usage row", sqlite="""
CREATE TABLE review_items (
  id TEXT PRIMARY KEY, created_at REAL NOT NULL, updated_at REAL NOT NULL,
  expires_at REAL NOT NULL, purge_after REAL NOT NULL, status TEXT NOT NULL,
  reason TEXT NOT NULL, alias TEXT NOT NULL, dialect TEXT NOT NULL, stream INTEGER NOT NULL,
  request_id TEXT NOT NULL, key_id TEXT, user_id TEXT, team TEXT, confidence REAL,
  signals TEXT NOT NULL DEFAULT '[]', prompt TEXT, answer TEXT, answer_shown TEXT,
  final_answer TEXT, decided_by TEXT, decided_at REAL, note TEXT);
CREATE INDEX review_items_status ON review_items(status, created_at);
ALTER TABLE usage ADD COLUMN decisions TEXT;
CREATE INDEX usage_ts ON usage(ts);
""", postgres="""
CREATE TABLE review_items (
  id TEXT PRIMARY KEY, created_at DOUBLE PRECISION NOT NULL,
  updated_at DOUBLE PRECISION NOT NULL, expires_at DOUBLE PRECISION NOT NULL,
  purge_after DOUBLE PRECISION NOT NULL, status TEXT NOT NULL, reason TEXT NOT NULL,
  alias TEXT NOT NULL, dialect TEXT NOT NULL, stream BOOLEAN NOT NULL,
  request_id TEXT NOT NULL, key_id TEXT, user_id TEXT, team TEXT,
  confidence DOUBLE PRECISION, signals TEXT NOT NULL DEFAULT '[]', prompt TEXT, answer TEXT,
  answer_shown TEXT, final_answer TEXT, decided_by TEXT, decided_at DOUBLE PRECISION,
  note TEXT);
CREATE INDEX review_items_status ON review_items(status, created_at);
ALTER TABLE usage ADD COLUMN decisions TEXT;
CREATE INDEX usage_ts ON usage(ts);
"""),
    Migration(7, "privacy: stored bodies, privacy events, cache index per user",
              sqlite=PRIVACY_SQLITE, postgres=PRIVACY_POSTGRES),
)

LATEST = max(m.version for m in MIGRATIONS)

_SQLITE_TABLE = ("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                 "name TEXT NOT NULL, applied_at REAL NOT NULL)")
_PG_TABLE = ("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
             "name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)")


@dataclass(frozen=True, slots=True)
class Status:
    """Where a database stands: the versions it has and those this code would add."""

    current: int
    latest: int
    pending: tuple[Migration, ...]

    def describe(self) -> str:
        lines = [f"schema version {self.current} (this Bastion knows up to {self.latest})"]
        lines += [f"  pending {m.version}: {m.name}" for m in self.pending]
        if self.current > self.latest:
            lines.append("  the database is NEWER than this Bastion: upgrade Bastion first")
        elif not self.pending:
            lines.append("  up to date")
        return "\n".join(lines)


def _check(applied: set[int], where: str, auto: bool, dry_run: bool) -> tuple[Migration, ...]:
    newest = max(applied, default=0)
    pending = tuple(m for m in MIGRATIONS if m.version not in applied)
    if dry_run:
        return pending
    if newest > LATEST:
        raise SchemaTooNew(
            f"The database {where} has schema version {newest}, newer than this Bastion "
            f"(which knows versions up to {LATEST}). Upgrade Bastion, or point it at "
            "another database; an older release must not write to a newer schema.")
    if pending and not auto:
        raise SchemaBehind(
            f"The database {where} needs {len(pending)} schema migration(s) "
            f"({', '.join(str(m.version) for m in pending)}) and state.auto_migrate is "
            "off. Run `bastion db upgrade` first.")
    return pending


def split_sqlite(script: str) -> list[str]:
    """``script`` as single statements (``executescript`` would commit on its own)."""
    out: list[str] = []
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out


def migrate_sqlite(conn: sqlite3.Connection, where: str, *, auto: bool = True,
                   dry_run: bool = False) -> Status:
    """Bring a SQLite database (autocommit connection) up to :data:`LATEST`."""
    conn.execute("BEGIN IMMEDIATE")  # the file's write lock: one process migrates at a time
    try:
        conn.execute(_SQLITE_TABLE)
        applied = {int(r[0]) for r in conn.execute("SELECT version FROM schema_migrations")}
        status = Status(max(applied, default=0), LATEST,
                        _check(applied, where, auto, dry_run))
        if not dry_run:
            for m in status.pending:
                for stmt in split_sqlite(m.sqlite):
                    conn.execute(stmt)
                conn.execute("INSERT INTO schema_migrations(version, name, applied_at) "
                             "VALUES (?, ?, ?)", (m.version, m.name, time.time()))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return status


async def migrate_postgres(conn: Any, schema: str, where: str, *, auto: bool = True,
                           dry_run: bool = False) -> Status:
    """Bring a PostgreSQL schema up to :data:`LATEST` (``conn``: an asyncpg connection
    whose ``search_path`` is ``schema``)."""
    async with conn.transaction():
        # Serialise replicas starting at once: concurrent DDL collides on the catalog.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))",
                           f"bastion.schema.{schema}")
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await conn.execute(_PG_TABLE)
        applied = {int(r[0]) for r in await conn.fetch("SELECT version FROM schema_migrations")}
        status = Status(max(applied, default=0), LATEST,
                        _check(applied, where, auto, dry_run))
        if not dry_run:
            for m in status.pending:
                await conn.execute(m.postgres)
                await conn.execute("INSERT INTO schema_migrations(version, name, applied_at) "
                                   "VALUES ($1, $2, $3)", m.version, m.name, time.time())
    return status
