-- A log chunk's attributes stored apart from its records' heads
-- (rampart-store logblock.rs, chunk version 3): `data` holds the heads,
-- `attrs` the attributes' JSON texts, each LZ4-compressed. A search whose
-- filter and count the heads decide reads only `data` (SQLite stops
-- reading a row's payload at the last column asked for, and the new
-- column comes last); it reads `attrs` of the chunks that hold a match.
-- Chunks written before this migration (version 2) keep their attributes
-- inline and `attrs` NULL.
ALTER TABLE log_chunks ADD COLUMN attrs BLOB;
