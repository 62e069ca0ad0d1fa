# meald links libvrp (services/solver) for its courier rounds (md_rounds.h).
$(eval $(call cc_daemon,meald,build/lib/libvrp.a))

# Courier rounds of 5 points x 200 deliveries per slot, planned by md_rounds
# (bench/meal_rounds.c; docs/BENCHMARKS.md "Meal rounds").
# BENCH_MEAL_POINTS (5), BENCH_MEAL_DELIVERIES (200), BENCH_MEAL_MS (500: meald's
# --round-plan-ms default), BENCH_MEAL_SEED.
BENCH_TARGETS += bench-meal-rounds
BENCH_MEAL_POINTS ?= 5
BENCH_MEAL_DELIVERIES ?= 200
BENCH_MEAL_MS ?= 500
BENCH_MEAL_SEED ?= 20261207
.PHONY: bench-meal-rounds
build/bench/meal_rounds: bench/meal_rounds.c $(meald_LIBOBJS) $(CC_LIB) build/lib/libvrp.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -Iservices/meald -o $@ $< $(meald_LIBOBJS) build/lib/libvrp.a $(CC_LIB) $(LDLIBS_CC)
bench-meal-rounds: build/bench/meal_rounds
	build/bench/meal_rounds $(BENCH_MEAL_POINTS) $(BENCH_MEAL_DELIVERIES) $(BENCH_MEAL_MS) $(BENCH_MEAL_SEED)
