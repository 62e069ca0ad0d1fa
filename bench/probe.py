#!/usr/bin/python3
"""probe.py: HTTP latency of every daemon, sampled while something else runs.

    probe.py --secs S [--rate R] [--token-dispatcher T]

One thread per daemon sends GET requests one after another at R per second
(default 50) for S seconds over one keep-alive connection: /readyz on all
four (the event loop answers it: a loop busy elsewhere shows here), and on
dispatchd also /v1/queue?district_id=1 with a dispatcher's token (the
working set read). Prints one JSON object: per probe n, p50, p99, max in ms,
errors. Ports from ORDERD_URL, DISPATCHD_URL, MEALD_URL, BILLINGD_URL.
"""

import argparse
import http.client
import json
import os
import threading
import time
import urllib.parse


def probe(url, path, token, secs, rate, out):
    u = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    hdrs = {"Authorization": "Bearer " + token} if token else {}
    lat, errors = [], 0
    t_end = time.monotonic() + secs
    nxt = time.monotonic()
    while nxt < t_end:
        now = time.monotonic()
        if now < nxt:
            time.sleep(nxt - now)
        t0 = time.monotonic()
        try:
            conn.request("GET", path, headers=hdrs)
            r = conn.getresponse()
            r.read()
            if r.status != 200:
                errors += 1
            else:
                lat.append((time.monotonic() - t0) * 1000)
        except (OSError, http.client.HTTPException):
            errors += 1
            conn.close()
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
        nxt += 1.0 / rate
    lat.sort()
    q = (lambda f: round(lat[min(len(lat) - 1, int(f * len(lat)))], 2)) if lat else (lambda f: None)
    out.update(n=len(lat), p50=q(0.5), p99=q(0.99), max=q(1.0), errors=errors)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--secs", type=float, default=30)
    ap.add_argument("--rate", type=float, default=50)
    ap.add_argument("--token-dispatcher", default="")
    a = ap.parse_args()
    probes = [(d, os.environ[d.upper() + "_URL"], "/readyz", "")
              for d in ("orderd", "dispatchd", "meald", "billingd")]
    if a.token_dispatcher:
        probes.append(("dispatchd_queue", os.environ["DISPATCHD_URL"],
                       "/v1/queue?district_id=1", a.token_dispatcher))
    res = {name: {} for name, _, _, _ in probes}
    ts = [threading.Thread(target=probe, args=(url, path, tok, a.secs, a.rate, res[name]))
          for name, url, path, tok in probes]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print(json.dumps(res, sort_keys=True))


if __name__ == "__main__":
    main()
