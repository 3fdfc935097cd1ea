/**
 * The SQL read model's tables (SQLite dialect). A read model is derived from the
 * logs alone and can be deleted and rebuilt at any time; `meta.length` says which
 * index length it reflects. JSON columns hold the canonical JSON text the index
 * stores, so SQLite's JSON functions work on them (`json_extract(value, '$.n')`).
 *
 *   state(path, value, seq)             the contract's current state: every live entry
 *                                       outside /.sys, with the index seq that wrote it
 *   history(seq, type, path, value, ack_origin, ack_seq)
 *                                       every index write since genesis (the /.sys ones
 *                                       included), linked to the op whose ack it follows
 *                                       (an ack links to its own op; genesis entries: null)
 *   acks(origin, seq, ts, success, error_code, error, num_changes, metadata, index_seq)
 *                                       one row per executed op
 *                                       (an op's writes are also the history rows with seq in
 *                                       (acks.index_seq, acks.index_seq + num_changes]: a
 *                                       range of the primary key, no index needed)
 *   ops(oplog, seq, value)              the executed ops whose oplog block is held here
 *                                       (value: the op's JSON, null when it is not JSON)
 *   oplogs(pubkey, active, since_seq)   the participants; since_seq: the index seq of the
 *                                       record that last set `active`
 */
/** Bumped when the tables change: a read model of another version is rebuilt. */
export const SCHEMA_VERSION = 2

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS state (path TEXT PRIMARY KEY, value TEXT NOT NULL, seq INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS history (seq INTEGER PRIMARY KEY, type TEXT NOT NULL, path TEXT NOT NULL, value TEXT, ack_origin TEXT, ack_seq INTEGER);
CREATE INDEX IF NOT EXISTS history_path ON history (path, seq);
CREATE TABLE IF NOT EXISTS acks (origin TEXT NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL, success INTEGER NOT NULL, error_code TEXT, error TEXT, num_changes INTEGER NOT NULL, metadata TEXT, index_seq INTEGER NOT NULL, PRIMARY KEY (origin, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ops (oplog TEXT NOT NULL, seq INTEGER NOT NULL, value TEXT, PRIMARY KEY (oplog, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS oplogs (pubkey TEXT PRIMARY KEY, active INTEGER NOT NULL, since_seq INTEGER NOT NULL) WITHOUT ROWID;
`

/** The tables a query may read, for docs and errors. */
export const TABLES = ['state', 'history', 'acks', 'ops', 'oplogs']
