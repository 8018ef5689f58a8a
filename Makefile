# cryo: one non-recursive Makefile, everything built into build/.
CC ?= gcc
BUILD ?= build
VERSION := 0.1.0

WARNINGS := -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wpointer-arith -Wvla -Wwrite-strings -Wimplicit-fallthrough -Wundef \
	-Wno-missing-field-initializers
CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 $(WARNINGS) -D_GNU_SOURCE -DCRYO_VERSION=\"$(VERSION)\" \
	-I. -I$(BUILD)/proto -MMD -MP
ifeq ($(WERROR),1)
CFLAGS += -Werror
endif
LDLIBS := -lprotobuf-c -lcap -lpthread

PROTOS := $(wildcard proto/img-*.proto)
PROTO_C := $(patsubst proto/%.proto,$(BUILD)/proto/%.pb-c.c,$(PROTOS))
PROTO_H := $(PROTO_C:.c=.h)

LIB_SRCS := $(wildcard common/*.c) $(wildcard engine/*.c) $(wildcard engine/files/*.c) \
	$(wildcard engine/arch/x86_64/*.c)
SHIM_SRCS := $(wildcard shim/*.c)
LIB_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRCS)) $(PROTO_C:.c=.o)
SHIM_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(SHIM_SRCS))

CR_TESTS := $(patsubst tests/cr/%.c,$(BUILD)/tests/cr/%,$(filter-out tests/cr/lib.c,$(wildcard tests/cr/*.c)))
UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(wildcard tests/unit/*.c))
FUZZERS := $(patsubst tests/fuzz/%.c,$(BUILD)/tests/fuzz/%,$(filter-out tests/fuzz/replay.c,$(wildcard tests/fuzz/*.c)))

all: $(BUILD)/cryo

$(BUILD)/proto/%.pb-c.c $(BUILD)/proto/%.pb-c.h: proto/%.proto
	@mkdir -p $(dir $@)
	protoc-c --proto_path=proto --c_out=$(BUILD)/proto $<

$(BUILD)/proto/%.pb-c.o: $(BUILD)/proto/%.pb-c.c
	$(CC) $(filter-out -Werror,$(CFLAGS)) -c -o $@ $<

# Generated headers must exist before anything that may include them compiles.
$(BUILD)/obj/%.o: %.c | $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/libcryo.a: $(LIB_OBJS)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/cryo: $(SHIM_OBJS) $(BUILD)/libcryo.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# State tests are plain programs: no sanitizers, they get checkpointed.
$(BUILD)/tests/cr/%: tests/cr/%.c tests/cr/lib.c tests/cr/lib.h
	@mkdir -p $(dir $@)
	$(CC) -O1 -g -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -o $@ $< tests/cr/lib.c -lrt -lm

# Unit tests and fuzz replays run under ASan+UBSan, built from the sources directly.
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
SAN_SRCS := $(LIB_SRCS) $(PROTO_C)
$(BUILD)/tests/unit/%: tests/unit/%.c $(SAN_SRCS) | $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -MMD -MP,$(CFLAGS)) $(SAN) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/fuzz/%: tests/fuzz/%.c tests/fuzz/replay.c $(SAN_SRCS) | $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -MMD -MP,$(CFLAGS)) $(SAN) -o $@ $^ $(LDLIBS)

# Demo and benchmark workloads: plain programs like the state tests.
DEMO_PROGS := $(patsubst contrib/demo/%.c,$(BUILD)/contrib/%,$(wildcard contrib/demo/*.c))
BENCH_PROGS := $(patsubst tests/bench/%.c,$(BUILD)/tests/bench/%,$(wildcard tests/bench/*.c))
$(BUILD)/contrib/%: contrib/demo/%.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -g -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -o $@ $<
$(BUILD)/tests/bench/%: tests/bench/%.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -g -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -o $@ $<

demo: $(BUILD)/cryo $(DEMO_PROGS)
	BUILD=$(BUILD) bash contrib/demo.sh

$(BUILD)/tests/tools/%: tests/tools/%.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -g -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -o $@ $<

test-progs: $(BUILD)/cryo $(CR_TESTS) $(UNIT_TESTS) $(FUZZERS) $(DEMO_PROGS) $(BUILD)/tests/tools/reaper

# Under a subreaper: orphans of killed trees are reaped even where pid 1 does not.
test: test-progs
	BUILD=$(BUILD) $(BUILD)/tests/tools/reaper bash tests/run.sh

bench: $(BUILD)/cryo $(BENCH_PROGS) $(BUILD)/tests/tools/reaper
	BUILD=$(BUILD) $(BUILD)/tests/tools/reaper bash tests/bench/bench.sh

clean:
	rm -rf $(BUILD)

.PHONY: all test test-progs bench demo clean
.SECONDARY:

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
