-- Takes a session's lease and, if taken, reads the session in the same round trip. A function
-- (VOLATILE, READ COMMITTED) because each of its statements takes a new snapshot: the read
-- runs after the lease is ours, so it sees the turn committed by the lease's previous holder
-- (one statement with a data-modifying WITH would read with the snapshot taken before it
-- waited for that holder). Returns one row with taken = false if the lease is held; else
-- taken = true and the session's row joined with its last `p_last` messages (no session:
-- one row of NULLs).
CREATE FUNCTION chat_lease_and_load(p_session TEXT, p_token TEXT, p_until BIGINT, p_now BIGINT,
                                    p_last BIGINT)
RETURNS TABLE (taken BOOLEAN, r_owner TEXT, r_created_at BIGINT, r_expires_at BIGINT,
               r_turns BIGINT, r_state TEXT, r_seq BIGINT, r_role TEXT, r_content TEXT,
               r_at BIGINT)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    n BIGINT;
BEGIN
    INSERT INTO chat_leases (session_id, token, until) VALUES (p_session, p_token, p_until)
    ON CONFLICT (session_id) DO UPDATE SET token = excluded.token, until = excluded.until
        WHERE chat_leases.until < p_now;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n = 0 THEN
        RETURN QUERY SELECT false, NULL::TEXT, NULL::BIGINT, NULL::BIGINT, NULL::BIGINT,
            NULL::TEXT, NULL::BIGINT, NULL::TEXT, NULL::TEXT, NULL::BIGINT;
        RETURN;
    END IF;
    RETURN QUERY SELECT true, s.owner, s.created_at, s.expires_at, s.turns, s.state, m.seq,
            m.role, m.content, m.at
        FROM (SELECT 1) AS one
        LEFT JOIN chat_sessions s ON s.id = p_session
        LEFT JOIN chat_messages m ON m.session_id = s.id
            AND m.seq >= 2 * s.turns - p_last AND m.seq < 2 * s.turns
        ORDER BY m.seq;
END
$$;
