"""The official MCP Python SDK (`mcp`, installed by scripts/test) as a client of /mcp.

usage: mcp_client.py URL START END TOKEN_A TOKEN_B   (auth = token)
       mcp_client.py URL START END                   (auth = none: the cookie is the caller)

Initializes, lists the tools with their schemas, calls each; a repeated keyed `book` books
once; with two tokens, the second caller cannot see, change or cancel the first's booking.
Prints the ids it booked as `booked <id>` lines and `mcp ok` at the end.
"""

import asyncio
import sys
from contextlib import asynccontextmanager

from mcp import ClientSession
from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client

WRITES = {"book", "change_booking", "cancel_booking", "join_waitlist"}
READS = {"list_gpus", "availability", "find_slots", "quote", "my_bookings", "account"}


def client(token):
    """One caller's HTTP client: its token, or (auth = none) the cookie it keeps."""
    return create_mcp_http_client(
        headers={"Authorization": f"Bearer {token}"} if token else None
    )


@asynccontextmanager
async def session(url, http):
    async with streamable_http_client(url, http_client=http, terminate_on_close=False) as streams:
        read, write = streams[0], streams[1]
        async with ClientSession(read, write) as s:
            init = await s.initialize()
            assert init.server_info.name == "hpcbot", init
            yield s


async def call(s, name, args, ok=True):
    r = await s.call_tool(name, args)
    assert bool(r.is_error) != ok, (name, args, r)
    return r.structured_content


async def main():
    url, start, end = sys.argv[1], sys.argv[2], sys.argv[3]
    token_a = sys.argv[4] if len(sys.argv) > 4 else None
    token_b = sys.argv[5] if len(sys.argv) > 5 else None
    window = {"start": start, "end": end}
    async with client(token_a) as http_a:
        await run(url, window, http_a, token_b)
    print("mcp ok")


async def run(url, window, http_a, token_b):
    async with session(url, http_a) as a:
        tools = (await a.list_tools()).tools
        names = {t.name for t in tools}
        assert names == WRITES | READS, names
        for t in tools:
            assert t.input_schema["type"] == "object", t
            assert t.description, t
            ann = t.annotations
            if t.name in WRITES:
                assert ann.destructive_hint is True and ann.read_only_hint is False, t
                assert "idempotency_key" in t.input_schema["properties"], t
            else:
                assert ann.read_only_hint is True, t
        book_schema = next(t for t in tools if t.name == "book").input_schema
        assert set(book_schema["required"]) == {"model", "count", "start", "end"}

        gpus = await call(a, "list_gpus", {})
        assert any(g["model"].startswith("A100") for g in gpus["gpus"]), gpus
        free = await call(a, "availability", {"model": "a100", **window})
        assert free["free"] == free["total"], free
        slots = await call(a, "find_slots", {"count": 2, "duration": "2h", "model": "A100"})
        assert slots["slots"] and slots["slots"][0]["count"] == 2, slots
        quote = await call(a, "quote", {"model": "a100", "count": 2, **window})
        assert quote["price_total"] > 0, quote
        account = await call(a, "account", {})
        assert "quotas" in account, account
        assert (await call(a, "my_bookings", {}))["bookings"] == []

        # Bad arguments are a tool error the model can read, never a dropped word.
        err = await call(a, "book", {"model": "a100", "cout": 2, **window}, ok=False)
        assert err["error"]["code"] == "invalid_arguments", err
        err = await call(a, "book", {"model": "nope", "count": 1, **window}, ok=False)
        assert err["error"]["code"] == "unknown_model" and err["status"] == 404, err

        # A keyed book retried books once.
        args = {"model": "a100", "count": 2, **window, "idempotency_key": "mcp-book-1"}
        first = await call(a, "book", args)
        again = await call(a, "book", args)
        assert first["id"] == again["id"], (first, again)
        assert first["price_total"] == quote["price_total"], (first, quote)
        print("booked", first["id"])
        mine = (await call(a, "my_bookings", {}))["bookings"]
        assert [b["id"] for b in mine] == [first["id"]], mine
        # The same key with other arguments is refused, as the header is.
        err = await call(a, "book", {**args, "count": 1}, ok=False)
        assert err["error"]["code"] == "idempotency_key_reused", err

        changed = await call(a, "change_booking", {"booking_id": first["id"], "count": 3})
        assert changed["count"] == 3 and changed["id"] == first["id"], changed

        # A request that does not fit waits in line.
        full = await call(a, "book", {"model": "v100", "count": 8, **window})
        print("booked", full["id"])
        entry = await call(a, "join_waitlist", {"model": "v100", "count": 1, **window})
        assert entry["status"] == "waiting" and entry["position"] == 1, entry

    if token_b:
        async with client(token_b) as http_b, session(url, http_b) as b:
            assert (await call(b, "my_bookings", {}))["bookings"] == []
            for name, extra in [("cancel_booking", {}), ("change_booking", {"count": 1})]:
                err = await call(b, name, {"booking_id": first["id"], **extra}, ok=False)
                assert err["error"]["code"] == "booking_not_found", err

    # A new MCP session of the same caller (stateless: nothing was kept between them).
    async with session(url, http_a) as a:
        cancelled = await call(a, "cancel_booking", {"booking_id": full["id"]})
        assert cancelled["status"] == "cancelled", cancelled


asyncio.run(main())
