# libcc: the shared library every daemon links, plus generated protobuf code.
PROTOS      := $(wildcard proto/*.proto)
PROTO_C     := $(patsubst proto/%.proto,build/gen/%.pb-c.c,$(PROTOS))
PROTO_H     := $(PROTO_C:.c=.h)
CC_SRCS     := $(filter-out %_test.c,$(wildcard services/common/*.c))
CC_OBJS     := $(patsubst services/common/%.c,build/obj/common/%.o,$(CC_SRCS)) \
               $(patsubst build/gen/%.c,build/obj/gen/%.o,$(PROTO_C))
CC_ASAN_OBJS := $(patsubst build/obj/%,build/asan/obj/%,$(CC_OBJS))
CC_TESTS    := $(patsubst services/common/%_test.c,build/test/common_%_test,\
                 $(wildcard services/common/*_test.c))
CC_LIB      := build/lib/libcc.a
CC_ASAN_LIB := build/asan/lib/libcc.a

UNIT_TESTS      += $(CC_TESTS)
UNIT_TESTS_ASAN += $(patsubst build/test/%,build/asan/test/%,$(CC_TESTS))

build/gen/%.pb-c.c build/gen/%.pb-c.h: proto/%.proto
	@mkdir -p build/gen
	$(PROTOC_C) --c_out=build/gen -Iproto $<

# Every object may include generated headers.
$(CC_OBJS) $(CC_ASAN_OBJS): | $(PROTO_H)

build/obj/common/%.o: services/common/%.c $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@
build/obj/gen/%.o: build/gen/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@
build/asan/obj/common/%.o: services/common/%.c $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(ASAN) -O1 -MMD -MP -c $< -o $@
build/asan/obj/gen/%.o: build/gen/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(ASAN) -O1 -MMD -MP -c $< -o $@

$(CC_LIB): $(CC_OBJS)
	@mkdir -p $(dir $@)
	ar rcs $@ $^
$(CC_ASAN_LIB): $(CC_ASAN_OBJS)
	@mkdir -p $(dir $@)
	ar rcs $@ $^

build/test/common_%_test: services/common/%_test.c $(CC_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $(TEST_DEPS) $< -o $@ $(CC_LIB) $(LDLIBS_CC) -lcmocka
build/asan/test/common_%_test: services/common/%_test.c $(CC_ASAN_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $(TEST_DEPS) $(ASAN) -O1 $< -o $@ $(CC_ASAN_LIB) $(LDLIBS_CC) -lcmocka

# A unit test is compiled and linked in one command; its header
# dependencies go to <binary>.d so that a changed header rebuilds it.
TEST_DEPS = -MMD -MP -MF $@.d -MT $@
-include $(wildcard build/obj/*/*.d build/asan/obj/*/*.d build/test/*.d build/asan/test/*.d)

# Daemon fragments use this: $(call cc_daemon,orderd,od) defines
# build/bin/orderd from services/orderd/*.c (minus *_test.c), its unit tests
# build/test/orderd_<x>_test from services/orderd/<x>_test.c linked with the
# daemon's objects except main.o, and the ASan variants.
define cc_daemon
$(1)_SRCS  := $$(filter-out %_test.c,$$(wildcard services/$(1)/*.c))
$(1)_OBJS  := $$(patsubst services/$(1)/%.c,build/obj/$(1)/%.o,$$($(1)_SRCS))
$(1)_AOBJS := $$(patsubst build/obj/%,build/asan/obj/%,$$($(1)_OBJS))
$(1)_LIBOBJS  := $$(filter-out %/main.o,$$($(1)_OBJS))
$(1)_ALIBOBJS := $$(filter-out %/main.o,$$($(1)_AOBJS))
$(1)_TESTS := $$(patsubst services/$(1)/%_test.c,build/test/$(1)_%_test,\
                $$(wildcard services/$(1)/*_test.c))
DAEMONS += build/bin/$(1)
UNIT_TESTS += $$($(1)_TESTS)
UNIT_TESTS_ASAN += $$(patsubst build/test/%,build/asan/test/%,$$($(1)_TESTS))
$$($(1)_OBJS) $$($(1)_AOBJS): | $$(PROTO_H)
build/obj/$(1)/%.o: services/$(1)/%.c
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS) -Iservices/$(1) -MMD -MP -c $$< -o $$@
build/asan/obj/$(1)/%.o: services/$(1)/%.c
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS) $$(ASAN) -O1 -Iservices/$(1) -MMD -MP -c $$< -o $$@
build/bin/$(1): $$($(1)_OBJS) $$(CC_LIB) $(2)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS) $$(LDFLAGS) $$($(1)_OBJS) -o $$@ $(2) $$(CC_LIB) $$(LDLIBS_CC)
build/test/$(1)_%_test: services/$(1)/%_test.c $$($(1)_LIBOBJS) $$(CC_LIB) $(2)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS) $$(LDFLAGS) $$(TEST_DEPS) -Iservices/$(1) $$< $$($(1)_LIBOBJS) -o $$@ $(2) $$(CC_LIB) $$(LDLIBS_CC) -lcmocka
build/asan/test/$(1)_%_test: services/$(1)/%_test.c $$($(1)_ALIBOBJS) $$(CC_ASAN_LIB) $(2)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS) $$(LDFLAGS) $$(TEST_DEPS) $$(ASAN) -O1 -Iservices/$(1) $$< $$($(1)_ALIBOBJS) -o $$@ $(2) $$(CC_ASAN_LIB) $$(LDLIBS_CC) -lcmocka
endef
