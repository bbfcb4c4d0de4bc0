-- Takes the leases of many sessions and reads the sessions whose lease was taken, in ONE call
-- for a whole batch of turns (the lease loader, src/store/lease_loader.rs): per turn, a share
-- of three statements instead of a call of its own. The batch is a JSON array of
-- {"id", "token", "until", "last"} (the same statement text for every batch size, so one
-- prepared statement): take session `id`'s lease with `token` until `until` and read its
-- last `last` messages. Ids are distinct.
--
-- Why three statements and not one: each statement of a VOLATILE plpgsql function takes a
-- new snapshot (READ COMMITTED), so the read below sees every turn committed by a lease's
-- previous holder before the lease was taken.
-- Why not INSERT ... ON CONFLICT DO UPDATE as 0005 does: that locks the conflicting row even
-- when its WHERE fails, and a batch locking several rows could deadlock with a commit of
-- another instance. Here a live lease is passed over without a lock: the INSERT skips an
-- existing row, the UPDATE only touches a lapsed one.
--
-- Returns, for each lease taken, the session's row joined with its messages (ordered by
-- session and seq), or one row of NULLs beside r_id if there is no such session. A session
-- whose lease is held returns no row.
CREATE FUNCTION chat_lease_and_load_many(p_batch JSON, p_now BIGINT)
RETURNS TABLE (r_id TEXT, r_owner TEXT, r_created_at BIGINT, r_expires_at BIGINT,
               r_turns BIGINT, r_state TEXT, r_seq BIGINT, r_role TEXT, r_content TEXT,
               r_at BIGINT)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    taken TEXT[];
    lapsed TEXT[];
BEGIN
    WITH ins AS (
        INSERT INTO chat_leases (session_id, token, until)
        SELECT id, token, until
        FROM json_to_recordset(p_batch) AS v(id TEXT, token TEXT, until BIGINT)
        ON CONFLICT (session_id) DO NOTHING
        RETURNING session_id)
    SELECT coalesce(array_agg(session_id), '{}') INTO taken FROM ins;
    WITH upd AS (
        UPDATE chat_leases l SET token = v.token, until = v.until
        FROM json_to_recordset(p_batch) AS v(id TEXT, token TEXT, until BIGINT)
        WHERE l.session_id = v.id AND l.until < p_now
        RETURNING l.session_id)
    SELECT coalesce(array_agg(session_id), '{}') INTO lapsed FROM upd;
    taken := taken || lapsed;
    RETURN QUERY SELECT v.id, s.owner, s.created_at, s.expires_at, s.turns, s.state, m.seq,
            m.role, m.content, m.at
        FROM json_to_recordset(p_batch) AS v(id TEXT, last BIGINT)
        LEFT JOIN chat_sessions s ON s.id = v.id
        LEFT JOIN chat_messages m ON m.session_id = s.id
            AND m.seq >= 2 * s.turns - v.last AND m.seq < 2 * s.turns
        WHERE v.id = ANY (taken)
        ORDER BY v.id, m.seq;
END
$$;
