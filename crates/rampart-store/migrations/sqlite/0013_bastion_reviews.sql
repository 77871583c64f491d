-- Command reviews of the bastion's red lines: a line whose verdict is
-- `review` waits here until a reviewer other than the requester approves
-- or denies it, or it expires.
CREATE TABLE bastion_reviews (
    id            TEXT PRIMARY KEY,
    session_id    TEXT NOT NULL,
    requester_id  TEXT NOT NULL REFERENCES users(id),
    requester     TEXT NOT NULL,
    target        TEXT NOT NULL,
    command       TEXT NOT NULL,
    policy        TEXT NOT NULL,
    reason        TEXT NOT NULL,
    status        TEXT NOT NULL,
    reviewer      TEXT,
    comment       TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    decided_at    BIGINT
);
CREATE INDEX bastion_reviews_status ON bastion_reviews(status, created_at);
