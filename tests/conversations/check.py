#!/usr/bin/env python3
"""Sanity checker for the conversation tables (tests/conversations/*.toml).

Checks: TOML parses; names unique (across all files); each conv has the fields its
`expect` needs; times are RFC 3339 with an offset; start < end; at most 30 days; models are
from the sample inventory; counts fit the model; new bookings/changes are not in the past
(relative to `now`) and fit the capacity left by `others`; a yes-word follows when the
expectation changes something. Prints counts per file and per expect kind.
Usage: python3 check.py [-v] [files...]   (-v prints every booking in its local time zone)
"""
import sys, glob, os, tomllib, re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo
from collections import Counter

INVENTORY = {  # canonical: (price, devices)
    "H100-80GB": (3.89, 8), "A100-80GB": (2.29, 12), "L40S-48GB": (1.19, 8),
    "V100-32GB": (0.79, 8), "RTX-4090-24GB": (0.59, 6),
}
ALIASES = {"H100": "H100-80GB", "A100": "A100-80GB", "L40S": "L40S-48GB", "V100": "V100-32GB",
           "RTX-4090": "RTX-4090-24GB", "RTX4090": "RTX-4090-24GB", "4090": "RTX-4090-24GB"}
for k in list(INVENTORY):
    ALIASES[k] = k
KINDS = {"book", "none", "cancel", "change", "answer"}
YES = ["yes", "yep", "yeah", "sure", "ok", "okay", "confirm", "go ahead", "do it", "book it",
       "sounds good", "sounds perfect", "go for it", "perfect", "that's right", "please do",
       "absolutely", "correct"]
DEFAULT_NOW = "2026-11-26T10:00:00Z"
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def ts(s, where, errs):
    if not isinstance(s, str) or not RFC3339.match(s):
        errs.append(f"{where}: not RFC 3339: {s!r}")
        return None
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def model(m, where, errs):
    c = ALIASES.get(str(m).upper())
    if c is None:
        errs.append(f"{where}: unknown model {m!r}")
    return c


def booking(b, where, errs, need_model=True):
    if not isinstance(b, dict):
        errs.append(f"{where}: not a table")
        return None
    for f in (["model"] if need_model else []) + ["count", "start", "end"]:
        if f not in b:
            errs.append(f"{where}: missing {f}")
    m = model(b["model"], where, errs) if "model" in b else None
    s, e = ts(b.get("start"), where, errs), ts(b.get("end"), where, errs)
    c = b.get("count")
    if not isinstance(c, int) or c < 1:
        errs.append(f"{where}: bad count {c!r}")
    elif m and c > INVENTORY[m][1]:
        errs.append(f"{where}: count {c} > {INVENTORY[m][1]} devices of {m}")
    if s and e:
        if not s < e:
            errs.append(f"{where}: start not before end")
        if e - s > timedelta(days=30):
            errs.append(f"{where}: longer than 30 days")
    return m, c, s, e


def overlap_used(others, m, s, e):
    """Peak count of `m` held by others during [s, e)."""
    pts = sorted({s} | {x[2] for x in others if x[0] == m and x[2] and s <= x[2] < e})
    peak = 0
    for p in pts:
        peak = max(peak, sum(x[1] for x in others if x[0] == m and x[2] <= p < x[3]))
    return peak


def check_file(path, names, kinds, verbose):
    errs = []
    with open(path, "rb") as f:
        data = tomllib.load(f)
    convs = data.get("conv", [])
    for i, c in enumerate(convs):
        n = c.get("name", f"#{i}")
        w = f"{os.path.basename(path)}:{n}"
        if n in names:
            errs.append(f"{w}: duplicate name (also in {names[n]})")
        names[n] = os.path.basename(path)
        k = c.get("expect")
        if k not in KINDS:
            errs.append(f"{w}: bad expect {k!r}")
            continue
        kinds[k] += 1
        turns = c.get("turns")
        if not turns or not all(isinstance(t, str) and t.strip() for t in turns):
            errs.append(f"{w}: turns must be non-empty strings")
            turns = []
        now = ts(c.get("now", DEFAULT_NOW), w + " now", errs)
        try:
            tz = ZoneInfo(c.get("tz", "UTC"))
        except Exception:
            errs.append(f"{w}: bad tz {c.get('tz')!r}")
            tz = ZoneInfo("UTC")
        ex = [booking(b, f"{w} existing[{j}]", errs) for j, b in enumerate(c.get("existing", []))]
        ot = [booking(b, f"{w} others[{j}]", errs) for j, b in enumerate(c.get("others", []))]
        for j, b in enumerate(ex):  # existing + others must fit the inventory
            if b and b[0] and b[2] and b[3] and b[1] + overlap_used(ot + ex[:j] + ex[j+1:], *b[0:1], b[2], b[3]) > INVENTORY[b[0]][1]:
                errs.append(f"{w}: existing[{j}] does not fit the inventory with the others")
        allowed = {"name", "now", "tz", "existing", "others", "turns", "expect", "reply_has",
                   "booking", "cancelled", "changed"}
        for key in c:
            if key not in allowed:
                errs.append(f"{w}: unknown key {key}")
        needs = {"book": ["booking"], "cancel": ["cancelled", "existing"],
                 "change": ["changed", "existing"], "answer": ["reply_has"], "none": []}[k]
        for f in needs:
            if f not in c:
                errs.append(f"{w}: expect={k} needs {f}")
        if k in ("book", "cancel", "change"):
            if not any(re.search(r"\b" + re.escape(y) + r"\b", t.lower()) for t in turns[1:] for y in YES):
                errs.append(f"{w}: no yes-word after the first turn")
        if k == "answer" and (not c.get("reply_has") or not all(isinstance(x, str) and x for x in c["reply_has"])):
            errs.append(f"{w}: reply_has must be non-empty strings")
        if k != "book" and "booking" in c:
            errs.append(f"{w}: booking given but expect={k}")
        target = None
        if k == "book" and "booking" in c:
            target = booking(c["booking"], w + " booking", errs)
        if k == "change" and "changed" in c:
            ch = c["changed"]
            idx = ch.get("index")
            if not isinstance(idx, int) or not 0 <= idx < len(ex):
                errs.append(f"{w}: changed.index out of range")
            else:
                full = dict(c["existing"][idx]); full.update({x: y for x, y in ch.items() if x != "index"})
                target = booking(full, w + " changed", errs)
                if full == c["existing"][idx]:
                    errs.append(f"{w}: changed equals existing")
                rest = ex[:idx] + ex[idx+1:]
                if target and target[0] and target[2] and target[3] and target[1] + overlap_used(ot + rest, target[0], target[2], target[3]) > INVENTORY[target[0]][1]:
                    errs.append(f"{w}: change does not fit the capacity")
        if k == "cancel" and "cancelled" in c:
            cl = c["cancelled"]
            if not cl or not all(isinstance(x, int) and 0 <= x < len(ex) for x in cl) or len(set(cl)) != len(cl):
                errs.append(f"{w}: bad cancelled {cl!r}")
        if target and all(target) and now:
            m, cnt, s, e = target
            if s < now:
                errs.append(f"{w}: starts before now")
            if s - now > timedelta(days=365):
                errs.append(f"{w}: more than 365 days ahead")
            if k == "book" and cnt + overlap_used(ot + ex, m, s, e) > INVENTORY[m][1]:
                errs.append(f"{w}: booking does not fit the capacity left")
            if verbose:
                ls, le = s.astimezone(tz), e.astimezone(tz)
                price = round(cnt * (e - s).total_seconds() / 3600 * INVENTORY[m][0], 2)
                print(f"  {n:40s} {k:6s} {m:14s} x{cnt:<2d} {ls:%a %Y-%m-%d %H:%M} -> {le:%a %Y-%m-%d %H:%M} "
                      f"({(e-s).total_seconds()/3600:g} h, ${price:.2f}) now={now.astimezone(tz):%a %m-%d %H:%M} {tz.key}")
                print(f"      {turns}")
        elif verbose:
            print(f"  {n:40s} {k:6s} {c.get('reply_has', c.get('cancelled', ''))} now={now.astimezone(tz):%a %m-%d %H:%M} {tz.key}")
            print(f"      {turns}")
    return len(convs), errs


def main():
    args = sys.argv[1:]
    verbose = "-v" in args
    files = [a for a in args if a != "-v"] or sorted(glob.glob(os.path.join(os.path.dirname(os.path.abspath(__file__)), "*.toml")))
    names, kinds, total, allerrs = {}, Counter(), 0, []
    for p in files:
        if verbose:
            print(p)
        try:
            n, errs = check_file(p, names, kinds, verbose)
        except tomllib.TOMLDecodeError as e:
            allerrs.append(f"{p}: TOML error: {e}")
            continue
        total += n
        allerrs += errs
        print(f"{os.path.basename(p):40s} {n:4d}")
    print(f"{'total':40s} {total:4d}")
    for k in sorted(KINDS):
        print(f"  expect={k:7s} {kinds[k]:4d} ({100*kinds[k]/max(total,1):.0f}%)")
    for e in allerrs:
        print("ERROR", e)
    sys.exit(1 if allerrs else 0)


if __name__ == "__main__":
    main()
