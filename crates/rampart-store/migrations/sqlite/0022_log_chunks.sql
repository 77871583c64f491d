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
