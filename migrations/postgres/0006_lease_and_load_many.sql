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
-- whose lease is held returns no row. (0005's one-session function stays, unused by this
-- release, for instances of the previous one during a rolling upgrade.)
CREATE FUNCTION chat_lease_and_load_many(p_batch JSON, p_now BIGINT)
RETURNS TABLE (r_id TEXT, r_owner TEXT, r_created_at BIGINT, r_expires_at BIGINT,
               r_turns BIGINT, r_state TEXT, r_seq BIGINT, r_role TEXT, r_content TEXT,
               r_at BIGINT)
LANGUAGE plpgsql VOLATILE
-- Each batch's statements are planned for its own sessions: a plan cached from the first
-- calls (on near-empty tables) joined the sessions by scanning them whole, a scan a batch.
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    taken TEXT[];
    held TEXT[];
    lapsed TEXT[];
BEGIN
    WITH ins AS (
        INSERT INTO chat_leases (session_id, token, until)
        SELECT id, token, until
        FROM json_to_recordset(p_batch) AS v(id TEXT, token TEXT, until BIGINT)
        ON CONFLICT (session_id) DO NOTHING
        RETURNING session_id)
    SELECT coalesce(array_agg(session_id), '{}') INTO taken FROM ins;
    -- Usually every lease is free (a commit deletes its lease). Only the rest are looked up
    -- again, by the key: a join would scan the whole table, which the churn of leases bloats.
    IF cardinality(taken) < json_array_length(p_batch) THEN
        SELECT array_agg(id) INTO held FROM json_to_recordset(p_batch) AS v(id TEXT)
        WHERE id <> ALL (taken);
        WITH upd AS (
            UPDATE chat_leases l SET token = v.token, until = v.until
            FROM json_to_recordset(p_batch) AS v(id TEXT, token TEXT, until BIGINT)
            WHERE l.session_id = ANY (held) AND l.session_id = v.id AND l.until < p_now
            RETURNING l.session_id)
        SELECT coalesce(array_agg(session_id), '{}') INTO lapsed FROM upd;
        taken := taken || lapsed;
    END IF;
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

-- A turn's UPDATE of its session changes no indexed column once expires_at is not indexed,
-- so PostgreSQL updates the row in place on its page (HOT) instead of adding index entries
-- and a row elsewhere each turn, which bloated the table (measured: ~10 dead rows per live one
-- after a 10 s bench) and every scan of it. The expiry sweep (once a minute per instance)
-- reads the table instead. Room is left on each page for the next version of its rows.
DROP INDEX chat_sessions_expires_at;
ALTER TABLE chat_sessions SET (fillfactor = 70);
