#!/usr/bin/python3
"""county.py: load a benchmark county over the public HTTP APIs.

    county.py --cards N --topups K --caregivers M --out CARDS_FILE

- N elders (ability "mild", so any caregiver level may bath them), each with a
  love card topped up K times with 100,000 CNY (billingd's largest top-up;
  the family pays): enough that no benchmark order is denied for money;
- M caregivers spread over districts 1-3, every skill, level 3, first aid,
  shift 00:00-23:59. (No meal points: the benchmarks order visits only.)

Writes the card ids, one a line, to CARDS_FILE (bench/intake.lua reads it).
Uses tools/demo.py for the HTTP calls, ID numbers and district centres; the
daemon URLs come from ORDERD_URL, DISPATCHD_URL, MEALD_URL, BILLINGD_URL.
"""

import argparse
import concurrent.futures
import datetime
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tools"))
import demo  # noqa: E402

SKILLS = ["bath", "cleaning", "escort", "medical_escort", "emergency", "visit", "assessment"]
TOPUP_FEN = 10000000
TOPUPS = 1


def elder_card(i):
    today = demo.now().date()
    dist = 1 + i % 3
    birth = datetime.date(today.year - 65 - i % 30, 1 + i % 12, 1 + i % 28)
    lat, lon = demo.near(dist, ((i * 37) % 200 - 100) / 10000.0,
                         ((i * 53) % 200 - 100) / 10000.0)
    body = {"name": "Bench Elder %d" % i, "phone": "1370000%04d" % i,
            "address": "No. %d bench road" % i, "district_id": dist, "lat": lat, "lon": lon,
            "birth_date": birth.isoformat(), "ability_level": "mild", "household": "none",
            "living": "alone"}
    for _ in range(10):
        body["id_number"] = demo.id_number(birth, i % 2 == 0)
        st, doc = demo.call("orderd", "POST", "/v1/elders", body, ok=None)
        if st == 201:
            break
    else:
        raise demo.ApiError("POST /v1/elders -> %d %s" % (st, doc))
    _, card = demo.call("orderd", "POST", "/v1/cards", {"elder_id": doc["elder_id"]})
    c = card["card_id"]
    # billingd learns of the card from orderd's log: retry until it has.
    for k in range(TOPUPS):
        demo.retry(lambda: demo.call("billingd", "POST", "/v1/cards/%s/topups" % c,
                                     {"amount_fen": TOPUP_FEN, "source": "family",
                                      "reference": "bench"},
                                     headers={"Idempotency-Key": "bench-topup-%d-%s" % (k, c)}),
                   "top-up", timeout=60)
    return c


def caregiver(i):
    dist = 1 + i % 3
    lat, lon = demo.near(dist, ((i * 41) % 200 - 100) / 10000.0,
                         ((i * 29) % 200 - 100) / 10000.0)
    demo.call("dispatchd", "POST", "/v1/caregivers", {
        "name": "Bench Carer %d" % i, "provider_id": "provider-%d" % (i % 5),
        "district_id": dist, "lat": lat, "lon": lon, "skills": SKILLS, "level": 3,
        "first_aid": True, "shift_start": "00:00", "shift_end": "23:59"}, role="admin")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cards", type=int, default=50)
    ap.add_argument("--topups", type=int, default=1)
    ap.add_argument("--caregivers", type=int, default=0)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    global TOPUPS
    TOPUPS = a.topups
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        cards = list(ex.map(elder_card, range(a.cards)))
        list(ex.map(caregiver, range(a.caregivers)))
    with open(a.out, "w") as f:
        f.write("\n".join(cards) + "\n")
    print("county: %d cards (%d CNY each), %d caregivers"
          % (len(cards), TOPUPS * TOPUP_FEN // 100, a.caregivers), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
