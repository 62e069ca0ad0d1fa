$(eval $(call cc_daemon,dispatchd,build/lib/libvrp.a))

# The online decision's latency in a district of many caregivers
# (bench/dispatch_decision.c; docs/BENCHMARKS.md "Dispatch decision").
# BENCH_DD_CAREGIVERS (2000), BENCH_DD_VISITS (4 per caregiver).
BENCH_TARGETS += bench-dispatch-decision
BENCH_DD_CAREGIVERS ?= 2000
BENCH_DD_VISITS ?= $(shell echo $$((4 * $(BENCH_DD_CAREGIVERS))))
.PHONY: bench-dispatch-decision
build/bench/dispatch_decision: bench/dispatch_decision.c $(dispatchd_LIBOBJS) $(CC_LIB) build/lib/libvrp.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -Iservices/dispatchd -o $@ $< $(dispatchd_LIBOBJS) build/lib/libvrp.a $(CC_LIB) $(LDLIBS_CC)
bench-dispatch-decision: build/bench/dispatch_decision
	build/bench/dispatch_decision $(BENCH_DD_CAREGIVERS) $(BENCH_DD_VISITS)

# HTTP latency of every daemon with re-optimisation off and running without
# pause, side by side (bench/reopt_http.sh; docs/BENCHMARKS.md).
BENCH_TARGETS += bench-reopt-http
.PHONY: bench-reopt-http
bench-reopt-http: all
	bench/reopt_http.sh

# The online decision in the shape of bench/e2e.sh, without the daemons
# (bench/dispatch_e2e_shape.c).
build/bench/dispatch_e2e_shape: bench/dispatch_e2e_shape.c $(dispatchd_LIBOBJS) $(CC_LIB) build/lib/libvrp.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -Iservices/dispatchd -o $@ $< $(dispatchd_LIBOBJS) build/lib/libvrp.a $(CC_LIB) $(LDLIBS_CC)
