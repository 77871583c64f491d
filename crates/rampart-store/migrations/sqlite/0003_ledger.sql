-- The ledger in the database (used when the database is shared by several
-- nodes): C2SP tlog-tiles files by path, and the commit point.
CREATE TABLE ledger_files (
    path  TEXT PRIMARY KEY,
    data  BLOB NOT NULL
);

CREATE TABLE ledger_state (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    size  BIGINT NOT NULL,
    root  BLOB NOT NULL
);
