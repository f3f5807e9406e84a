-- PruneSessions: find ended sessions and expired refresh tokens through indexes
-- instead of scanning both tables every hour.
--
-- last_token_expires_at is the latest expires_at of the session's refresh tokens,
-- kept by insertToken in the same transaction as the insert. It turns "every token
-- of the session expired" into one indexed comparison rather than an anti-join over
-- refresh_tokens. NULL means unknown, and such a session is never pruned by expiry.
ALTER TABLE sessions ADD COLUMN last_token_expires_at INTEGER;

UPDATE sessions SET last_token_expires_at =
    (SELECT MAX(expires_at) FROM refresh_tokens WHERE refresh_tokens.session_id = sessions.id);

CREATE INDEX sessions_last_token_expires_at ON sessions (last_token_expires_at);

-- Partial: live sessions (the vast majority) have no revocation time to index.
CREATE INDEX sessions_revoked_at ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;

CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);
