"""The privacy part's tables (migration 3 in :mod:`bastion.stores.migrations`).

* ``stored_bodies``: minimised prompts and answers, kept only when an operator opts in
  (``privacy.retention.store_bodies``), each with its expiry;
* ``privacy_events``: one row per request with findings: alias, target, data classes
  and counts per entity type and action; never a value, a user or a key;
* ``privacy_cache_index``: which exact-cache entries a user's requests may have
  written, so a data-subject erasure can delete them.
"""

PRIVACY_SQLITE = """
CREATE TABLE stored_bodies (
  id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, expires_at REAL NOT NULL,
  request_id TEXT NOT NULL, key_id TEXT, user_id TEXT, alias TEXT NOT NULL, target TEXT,
  request TEXT NOT NULL, response TEXT);
CREATE INDEX stored_bodies_user ON stored_bodies(user_id);
CREATE INDEX stored_bodies_expiry ON stored_bodies(expires_at);
CREATE TABLE privacy_events (
  ts REAL NOT NULL, alias TEXT NOT NULL, target TEXT, classes TEXT NOT NULL,
  counts TEXT NOT NULL);
CREATE INDEX privacy_events_ts ON privacy_events(ts);
CREATE TABLE privacy_cache_index (
  user_id TEXT NOT NULL, cache_key TEXT NOT NULL, expires_at REAL NOT NULL,
  PRIMARY KEY (user_id, cache_key));
"""

PRIVACY_POSTGRES = """
CREATE TABLE stored_bodies (
  id BIGSERIAL PRIMARY KEY, ts DOUBLE PRECISION NOT NULL,
  expires_at DOUBLE PRECISION NOT NULL, request_id TEXT NOT NULL, key_id TEXT, user_id TEXT,
  alias TEXT NOT NULL, target TEXT, request TEXT NOT NULL, response TEXT);
CREATE INDEX stored_bodies_user ON stored_bodies(user_id);
CREATE INDEX stored_bodies_expiry ON stored_bodies(expires_at);
CREATE TABLE privacy_events (
  ts DOUBLE PRECISION NOT NULL, alias TEXT NOT NULL, target TEXT, classes TEXT NOT NULL,
  counts TEXT NOT NULL);
CREATE INDEX privacy_events_ts ON privacy_events(ts);
CREATE TABLE privacy_cache_index (
  user_id TEXT NOT NULL, cache_key TEXT NOT NULL, expires_at DOUBLE PRECISION NOT NULL,
  PRIMARY KEY (user_id, cache_key));
"""
