#!/usr/bin/python3
"""place.py: place exactly N orders over HTTP at a fixed rate, a fixed set.

    place.py --url ORDERD_URL --cards CARDS_FILE --n N --rate R
             --day YYYY-MM-DD [--conns C] [--tag T]

The orders are those of bench/intake.lua with one wrk thread, given in order
k = 1..N: card cards[(7k + 1) mod #cards] (the county's cards in the order
bench/county.py wrote them), service cleaning/bath/escort by k mod 3, a
2-hour window opening on the hour 07:00..18:00 (+08:00) on one of the 21 days
from --day (a prime-stride scatter over the 252 slots), notes "bench". The
set depends on nothing but N and --day, so two revisions (each with its own
county, hence its own card ids, in the same order) get the same orders.

Order k is sent at start + k/R (C connections, keep-alive; a request that is
late goes at once), Idempotency-Key "<tag>-<k, 6 digits>". A failed request
(no 2xx) is retried with the same key up to 5 times. Prints one JSON line:
placed, failed, retries, seconds.
"""

import argparse
import datetime
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse

SERVICES = ["cleaning", "bath", "escort"]
SPREAD_DAYS = 21
TZ = datetime.timezone(datetime.timedelta(hours=8))   # the county's time zone


def order(k, cards, day):
    card = cards[(k * 7 + 1) % len(cards)]
    service = SERVICES[k % len(SERVICES)]
    j = (k * 7919 + 104729) % (SPREAD_DAYS * 12)
    start = datetime.datetime.combine(day + datetime.timedelta(days=j // 12),
                                      datetime.time(7 + j % 12), TZ)
    end = start + datetime.timedelta(hours=2)
    return {"card_id": card, "service": service, "window_start": start.isoformat(),
            "window_end": end.isoformat(), "notes": "bench"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--cards", required=True)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--rate", type=float, default=20.0)
    ap.add_argument("--conns", type=int, default=4)
    ap.add_argument("--day", required=True, help="first day of the windows (YYYY-MM-DD)")
    ap.add_argument("--tag", default="cg")
    a = ap.parse_args()
    cards = [line.strip() for line in open(a.cards) if line.strip()]
    day = datetime.date.fromisoformat(a.day)
    u = urllib.parse.urlsplit(a.url)
    lock = threading.Lock()
    nxt = [1]
    stats = {"placed": 0, "failed": 0, "retries": 0}
    t0 = time.monotonic()

    def worker():
        conn = None
        while True:
            with lock:
                k = nxt[0]
                if k > a.n:
                    return
                nxt[0] += 1
            due = t0 + (k - 1) / a.rate
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            body = json.dumps(order(k, cards, day), separators=(",", ":"))
            hdrs = {"Content-Type": "application/json",
                    "Idempotency-Key": "%s-%06d" % (a.tag, k)}
            # Since issue 10 every route wants a bearer token: bench/sys.sh
            # mints an operator's into BENCH_TOKEN (older revisions: none).
            if os.environ.get("BENCH_TOKEN"):
                hdrs["Authorization"] = "Bearer " + os.environ["BENCH_TOKEN"]
            for attempt in range(6):
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
                    conn.request("POST", "/v1/orders", body, hdrs)
                    r = conn.getresponse()
                    r.read()
                    ok = 200 <= r.status < 300
                    if r.getheader("Connection", "").lower() == "close":
                        conn.close()
                        conn = None
                except (OSError, http.client.HTTPException):
                    ok = False
                    if conn is not None:
                        conn.close()
                    conn = None
                if ok:
                    break
                with lock:
                    stats["retries"] += 1
                time.sleep(1)
            with lock:
                stats["placed" if ok else "failed"] += 1

    ths = [threading.Thread(target=worker) for _ in range(a.conns)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    stats["seconds"] = round(time.monotonic() - t0, 1)
    print(json.dumps(stats))
    return 0 if stats["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
