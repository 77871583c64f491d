-- The chunks of a log block (rampart-store logblock.rs), one row each, so
-- a search reads only the chunks its terms select instead of the whole
-- block (~400 KB to decode one 128-event chunk before). `data` is a
-- version byte and the LZ4-compressed records. Blocks stored before this
-- migration keep their chunks in log_blocks.body and are read from there;
-- new blocks store an empty body.
CREATE TABLE log_chunks (
    first_index  BIGINT NOT NULL,
    chunk        BIGINT NOT NULL,
    data         BLOB NOT NULL,
    PRIMARY KEY (first_index, chunk)
);

-- A block's term summary cut into 256 slices by the top byte of the term
-- key (rampart-store logblock.rs `slice_of`), one row per non-empty slice:
-- a search for a term reads that term's slice of a run of blocks in one
-- range scan of the key, about 1/256 of their summaries, instead of every
-- block's whole summary (~170 KB for 4,096 events with many distinct
-- values). Blocks stored before this migration keep log_blocks.summary;
-- new ones store it empty.
CREATE TABLE log_term_slices (
    slice        BIGINT NOT NULL,
    first_index  BIGINT NOT NULL,
    entries      BLOB NOT NULL,
    PRIMARY KEY (slice, first_index)
) WITHOUT ROWID;
