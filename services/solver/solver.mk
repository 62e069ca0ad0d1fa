# solver.mk: libvrp, vrp-solve, solver unit tests and the Solomon benchmark.
# Included by the top-level Makefile; every variable is prefixed SOLVER_.

SOLVER_DIR      := services/solver
SOLVER_LIB_SRC  := $(addprefix $(SOLVER_DIR)/,vrp_problem.c vrp_plan.c vrp_search.c)
SOLVER_LIB_OBJ  := $(patsubst $(SOLVER_DIR)/%.c,build/obj/solver/%.o,$(SOLVER_LIB_SRC))
SOLVER_ASAN_OBJ := $(patsubst $(SOLVER_DIR)/%.c,build/asan/obj/solver/%.o,$(SOLVER_LIB_SRC))
SOLVER_ASAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -g \
                     -fno-sanitize-recover=all -U_FORTIFY_SOURCE
SOLVER_TEST_NAMES := plan search read alloc ext
SOLVER_TESTS      := $(foreach t,$(SOLVER_TEST_NAMES),build/test/solver_$(t)_test)
SOLVER_TESTS_ASAN := $(foreach t,$(SOLVER_TEST_NAMES),build/asan/test/solver_$(t)_test)
SOLVER_BENCH_TIME ?= 1
SOLVER_BENCH_OBJ  ?= distance
SOLVER_BENCH_SEED ?= 1

UNIT_TESTS      += $(SOLVER_TESTS)
UNIT_TESTS_ASAN += $(SOLVER_TESTS_ASAN)
BENCH_TARGETS   += bench-solver
TOOLS           += build/bin/vrp-solve build/lib/libvrp.a

.PHONY: bench-solver bench-solver-online solver

solver: build/lib/libvrp.a build/bin/vrp-solve $(SOLVER_TESTS)

build/obj/solver/%.o: $(SOLVER_DIR)/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# The sanitizer build also verifies every local-search move (cost down, plan feasible) and
# aborts otherwise, so the tests check the move deltas and not only the final plans.
build/asan/obj/solver/%.o: $(SOLVER_DIR)/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(SOLVER_ASAN_FLAGS) -DVRP_LS_DEBUG -MMD -MP -c $< -o $@

build/lib/libvrp.a: $(SOLVER_LIB_OBJ)
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

build/bin/vrp-solve: build/obj/solver/vrp_solve.o build/obj/solver/vrp_read.o build/lib/libvrp.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ -ljansson -lm

# Test binaries link the objects (not the archive) so ASan builds reuse the same rule shape.
build/test/solver_%_test: build/obj/solver/vrp_%_test.o build/obj/solver/vrp_read.o \
		$(SOLVER_LIB_OBJ)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ -lcmocka -ljansson -lm

# The allocation-failure test wraps malloc/calloc/realloc for our objects only.
SOLVER_WRAP := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc

build/test/solver_alloc_test: build/obj/solver/vrp_alloc_test.o $(SOLVER_LIB_OBJ)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) $(SOLVER_WRAP) -o $@ $^ -lcmocka -lm

build/asan/test/solver_alloc_test: build/asan/obj/solver/vrp_alloc_test.o $(SOLVER_ASAN_OBJ)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) $(SOLVER_ASAN_FLAGS) $(SOLVER_WRAP) -o $@ $^ -lcmocka -lm

build/asan/test/solver_%_test: build/asan/obj/solver/vrp_%_test.o \
		build/asan/obj/solver/vrp_read.o $(SOLVER_ASAN_OBJ)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) $(SOLVER_ASAN_FLAGS) -o $@ $^ -lcmocka -ljansson -lm

build/bench/online_insert: bench/online_insert.c build/lib/libvrp.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -I$(SOLVER_DIR) -o $@ $^ -lm

bench-solver-online: build/bench/online_insert
	build/bench/online_insert

bench-solver: build/bin/vrp-solve build/bench/online_insert
	bench/solomon.sh --time-limit $(SOLVER_BENCH_TIME) --objective $(SOLVER_BENCH_OBJ) \
		--seed $(SOLVER_BENCH_SEED)
	build/bench/online_insert

-include $(SOLVER_LIB_OBJ:.o=.d) $(SOLVER_ASAN_OBJ:.o=.d)
-include $(wildcard build/obj/solver/*.d build/asan/obj/solver/*.d)
