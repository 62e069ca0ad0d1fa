# Home-care dispatch backend. `make run` and `make test` are the two
# commands that matter; both bootstrap a fresh Debian 12 machine first.
CC      ?= cc
CFLAGS  ?= -std=c17 -Wall -Wextra -Werror -O2 -g -D_GNU_SOURCE
CFLAGS  += -Ibuild/gen -Iservices/common -Iservices/solver -I/usr/include/postgresql
# Hardening (docs/SECURITY.md, "Hardening"), added even to a CFLAGS given on
# the command line: stack canaries, glibc's checked string and I/O functions
# (_FORTIFY_SOURCE needs -O1 or more: every build here has -O1 or -O2),
# position-independent executables, and a GOT made read-only after the
# dynamic linker has resolved every symbol at start (full RELRO).
# tests/system/test_hardening.py checks the binaries.
HARDEN_CFLAGS  := -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIE
HARDEN_LDFLAGS := -pie -Wl,-z,relro,-z,now
CFLAGS  += $(HARDEN_CFLAGS)
LDFLAGS += $(HARDEN_LDFLAGS)
# The sanitizer builds drop _FORTIFY_SOURCE: ASan's own interceptors check
# the same calls more thoroughly, and the *_chk variants would bypass them.
ASAN    := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all \
           -U_FORTIFY_SOURCE
LDLIBS_CC := -levent -lzmq -lpq -lprotobuf-c -ljansson -lsodium -lm
PROTOC_C ?= protoc-c

# Fragments append to these.
UNIT_TESTS      :=
UNIT_TESTS_ASAN :=
BENCH_TARGETS   :=
DAEMONS         :=
TOOLS           :=

.PHONY: all bootstrap run stop test test-unit test-asan test-system bench soak clean
all:

include services/common/common.mk
include $(filter-out services/common/common.mk,$(wildcard services/*/*.mk))
# libFuzzer targets (clang, build/fuzz/); last: it turns on .SECONDEXPANSION.
include tests/fuzz/fuzz.mk

all: $(DAEMONS) $(TOOLS) $(UNIT_TESTS)

bootstrap:
	@tools/bootstrap.sh

run: bootstrap
	@$(MAKE) --no-print-directory all
	@tools/run.sh

stop:
	@tools/stop.sh

# The test build uses every core unless make was given -j (then its jobserver
# rules): the plain, sanitizer and fuzz builds are most of a clean run's time.
TEST_JOBS = $(if $(findstring jobserver,$(MAKEFLAGS))$(filter -j%,$(MAKEFLAGS)),,-j$(shell nproc))

test: bootstrap
	@$(MAKE) --no-print-directory $(TEST_JOBS) all $(UNIT_TESTS_ASAN) $(FUZZ_BINS)
	@tests/run.sh

bench: bootstrap
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory $(BENCH_TARGETS)

soak: bootstrap
	@$(MAKE) --no-print-directory all
	@tests/soak.sh

clean:
	rm -rf build

# `make -s print-UNIT_TESTS` prints a variable (tests/run.sh uses it).
print-%:
	@echo $($*)
