-- Chat sessions in the booking database (sessions = "database", the default): history,
-- dialogue state and the per-session lease survive a restart. Times are Unix milliseconds.
CREATE TABLE chat_sessions (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    turns BIGINT NOT NULL,
    state TEXT NOT NULL,
    -- The last turn's two messages: a turn is committed by ONE statement (an UPDATE that bumps
    -- `turns` only if it is still the count loaded, and sets these), whose trigger below
    -- appends them to chat_messages. One statement = atomic and one round trip.
    last_user TEXT,
    last_user_at BIGINT,
    last_reply TEXT,
    last_reply_at BIGINT
);
CREATE INDEX chat_sessions_expires_at ON chat_sessions (expires_at);

-- Two messages per completed turn: seq 2k is the person's, 2k+1 the reply.
CREATE TABLE chat_messages (
    session_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (session_id, seq)
);

-- The lease a turn holds while it runs, so turns of one session on several instances are
-- applied one at a time; `until` lets a dead instance's lease lapse by itself. UNLOGGED: a
-- lease is worth nothing after a crash, and taking one then waits for no WAL flush.
CREATE UNLOGGED TABLE chat_leases (
    session_id TEXT PRIMARY KEY,
    token TEXT NOT NULL,
    until BIGINT NOT NULL
);

CREATE FUNCTION chat_turn_messages() RETURNS trigger AS $$
BEGIN
    INSERT INTO chat_messages (session_id, seq, role, content, at) VALUES
        (NEW.id, 2 * OLD.turns, 'user', NEW.last_user, NEW.last_user_at),
        (NEW.id, 2 * OLD.turns + 1, 'assistant', NEW.last_reply, NEW.last_reply_at);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER chat_turn AFTER UPDATE OF turns ON chat_sessions
    FOR EACH ROW EXECUTE FUNCTION chat_turn_messages();
