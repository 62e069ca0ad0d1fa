# fuzz.mk: libFuzzer targets under ASan+UBSan (docs/FUZZING.md).
# Included by the top-level Makefile. Everything is built with clang into
# build/fuzz/: its own objects of libcc, the daemons and the solver, so the
# normal gcc build is untouched.
#   make fuzz            each target for FUZZ_SECS (60) seconds
#   make fuzz-build      the binaries only
# `make test` replays every committed input (tests/fuzz/replay.sh).

# Prerequisites below use $$* (the stem) in a second expansion.
.SECONDEXPANSION:

FUZZ_CC      ?= clang
FUZZ_SECS    ?= 60
FUZZ_TARGETS := http jwt intake solver \
                orderd_json dispatchd_json meald_json billingd_json \
                orderd_events dispatchd_events meald_events billingd_events
FUZZ_BINS    := $(addprefix build/fuzz/bin/,$(FUZZ_TARGETS))
# -fsanitize=fuzzer-no-link instruments the code under test for coverage;
# the targets themselves link libFuzzer's driver (-fsanitize=fuzzer).
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS  := -std=c17 -Wall -Wextra -Werror -O1 -g -D_GNU_SOURCE $(FUZZ_SAN) \
                -Ibuild/gen -Iservices/common -Iservices/solver -I/usr/include/postgresql

FUZZ_DAEMON_INC := $(addprefix -Iservices/,orderd dispatchd meald billingd)
FUZZ_CC_OBJS := $(patsubst services/common/%.c,build/fuzz/obj/common/%.o,$(CC_SRCS)) \
                $(patsubst build/gen/%.c,build/fuzz/obj/gen/%.o,$(PROTO_C))
FUZZ_SOLVER_OBJS := $(patsubst services/solver/%.c,build/fuzz/obj/solver/%.o,\
                      $(SOLVER_LIB_SRC) services/solver/vrp_read.c)
# A daemon's objects but main.o, as its unit tests link them.
fuzz_daemon_objs = $(patsubst services/$(1)/%.c,build/fuzz/obj/$(1)/%.o,\
                     $(filter-out services/$(1)/main.c,$($(1)_SRCS)))

# Objects reached through pattern chains are intermediate to make: keep them.
.PRECIOUS: build/fuzz/obj/%.o build/fuzz/lib/%.a

.PHONY: fuzz fuzz-build
fuzz-build: $(FUZZ_BINS)

fuzz: bootstrap
	@$(MAKE) --no-print-directory fuzz-build
	@FUZZ_SECS=$(FUZZ_SECS) tests/fuzz/run.sh $(FUZZ_TARGETS)

$(FUZZ_CC_OBJS) $(FUZZ_SOLVER_OBJS): | $(PROTO_H)

build/fuzz/obj/gen/%.o: build/gen/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@
build/fuzz/obj/%.o: services/%.c | $(PROTO_H)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -I$(<D) -MMD -MP -c $< -o $@
build/fuzz/obj/targets/%.o: tests/fuzz/%.c | $(PROTO_H)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -Itests/fuzz $(FUZZ_DAEMON_INC) -MMD -MP -c $< -o $@

build/fuzz/lib/libcc.a: $(FUZZ_CC_OBJS)
	@mkdir -p $(@D)
	ar rcs $@ $^
build/fuzz/lib/libvrp.a: $(FUZZ_SOLVER_OBJS)
	@mkdir -p $(@D)
	ar rcs $@ $^
build/fuzz/lib/lib%.a: $$(call fuzz_daemon_objs,$$*)
	@mkdir -p $(@D)
	ar rcs $@ $^

FUZZ_LINK = $(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $^ -o $@

build/fuzz/bin/http build/fuzz/bin/jwt: build/fuzz/bin/%: build/fuzz/obj/targets/%.o \
		build/fuzz/lib/libcc.a
	@mkdir -p $(@D)
	$(FUZZ_LINK) $(LDLIBS_CC)
build/fuzz/bin/solver: build/fuzz/obj/targets/solver.o build/fuzz/lib/libvrp.a
	@mkdir -p $(@D)
	$(FUZZ_LINK) -ljansson -lm
build/fuzz/bin/intake: build/fuzz/obj/targets/intake.o build/fuzz/lib/liborderd.a \
		build/fuzz/lib/libcc.a
	@mkdir -p $(@D)
	$(FUZZ_LINK) $(LDLIBS_CC)
build/fuzz/bin/%_json: build/fuzz/obj/targets/%_json.o build/fuzz/lib/lib%.a \
		build/fuzz/lib/libvrp.a build/fuzz/lib/libcc.a
	@mkdir -p $(@D)
	$(FUZZ_LINK) $(LDLIBS_CC)
build/fuzz/bin/%_events: build/fuzz/obj/targets/%_events.o build/fuzz/lib/lib%.a \
		build/fuzz/lib/libvrp.a build/fuzz/lib/libcc.a
	@mkdir -p $(@D)
	$(FUZZ_LINK) $(LDLIBS_CC)

-include $(wildcard build/fuzz/obj/*/*.d)
