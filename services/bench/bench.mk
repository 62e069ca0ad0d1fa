# bench.mk: the system benchmarks of issue 4 (docs/BENCHMARKS.md, "Intake" and
# "End to end"). It lives in services/bench/ only so that the top-level
# Makefile's services/*/*.mk wildcard includes it; the scripts are in bench/.
# Each target brings up its own private system (PostgreSQL on 55599, daemons
# on 24601..24604; see bench/sys.sh), prints a result table and stops it.

BENCH_TARGETS += bench-intake bench-e2e bench-sql bench-compare bench-callgrind bench-county \
                 bench-county-month

.PHONY: bench-intake bench-e2e bench-sql bench-compare bench-callgrind bench-county \
        bench-county-month

bench-intake: all
	bench/intake.sh

bench-e2e: all
	bench/e2e.sh

# Backend CPU per call of orderd's per-order SQL functions (bench/sqlcpu.py):
# a stable figure on a shared machine. BENCH_SQL_REVS="rev1 rev2" compares.
bench-sql:
	bench/sqlcpu.py $(foreach r,$(BENCH_SQL_REVS),--rev $(r))

# Intake and end to end of two revisions side by side (bench/compare.sh):
# BENCH_REVS="e830a6f HEAD" by default, each built in var/bench/rev/.
bench-compare: all
	bench/compare.sh

# Instructions per order per daemon of two revisions under callgrind
# (bench/callgrind.sh): a figure that does not move with the machine's load.
# BENCH_REVS="e830a6f HEAD" by default, each built in var/bench/rev/;
# BENCH_ORDERS (2000), BENCH_RATE (20/s), BENCH_RUNS (2).
bench-callgrind: all
	bench/callgrind.sh

# Issue 12's county day (bench/countyday.sh, docs/BENCHMARKS.md "County
# day"): one seeded day replayed in simulated time (libfaketime) through the
# daemons of e830a6f (the greedy baseline, built in var/bench/rev/) and of
# a tree with today's dispatchd (this one, or COUNTY_TREE=PATH of a built
# tree), and the same day solved offline with hindsight by libvrp
# (build/bench/countyday_bound). The district size (60 caregivers, 600
# visits) by default; `make bench-county COUNTY=1` for the county (600,
# 6,000). Results in build/bench/countyday-<size>.md.
COUNTY ?= 0
build/bench/countyday_bound: bench/countyday_bound.c build/lib/libvrp.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -I$(SOLVER_DIR) -o $@ $^ -lm

bench-county: all build/bench/countyday_bound
	COUNTY=$(COUNTY) bench/countyday.sh

# Issue 13's county month (bench/countymonth.py, docs/BENCHMARKS.md "County
# month (issue 13)"): a seeded roster of COUNTY_MONTH_ELDERS (20,000) elders
# imported through POST /v1/elders/import, February 2027 run day by day in
# simulated time (libfaketime) through this tree's daemons: orderd's duty and
# plan generators place the orders, dispatchd assigns them, simulated apps
# serve them; then GET /v1/coverage per district against the script's own
# record. COUNTY_MONTH_ELDERS=2000 for a quick check (~10 min);
# COUNTY_MONTH_DAYS (28) for fewer days. Results in var/bench/countymonth-*/.
bench-county-month: all
	bench/countymonth.py
# Issue 13's week of duties and plans for 100,000 elders (bench/genweek.py,
# docs/BENCHMARKS.md "Generating a week"): seeds once (about 5 minutes),
# then times orderd's generators until nothing is left to place. Not in
# BENCH_TARGETS (long). GENWEEK_ARGS e.g. "--tree before=DIR --tree
# after=. --runs 3" compares built trees side by side.
GENWEEK_ARGS ?=
.PHONY: bench-genweek
bench-genweek: all
	bench/genweek.py $(GENWEEK_ARGS)
