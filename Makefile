# hyve: one build for everything.  `make`, `make check`, `make demo`.

CC	?= gcc
B	:= build
CFLAGS	:= -std=gnu11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -I. -pthread \
	   -fno-strict-aliasing $(EXTRA_CFLAGS)
LDLIBS	:= -pthread -lseccomp -ljson-c -luring
# hyve, its backends and hyvectl are linked statically (and still loaded at
# a random address): no dynamic loader runs at each backend's start, which
# costs a restore or a restart most under emulation (docs/PERFORMANCE.md).
STATIC	:= -static-pie
ASAN	:= -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# A backend's sandbox row (backends/X/X_sandbox.c) is its binary's and, for
# the core, the monitor and the audit, the library's too.
LIB_SRC	:= $(wildcard lib/*.c) $(filter-out core/main.c,$(wildcard core/*.c)) $(wildcard ipc/*.c) \
	   $(wildcard sandbox/*.c) $(wildcard backends/*.c) $(wildcard backends/*/*_sandbox.c)
LIB_OBJ	:= $(LIB_SRC:%.c=$(B)/obj/%.o)
ALIB_OBJ := $(LIB_SRC:%.c=$(B)/asan/%.o)

BACKENDS := $(notdir $(patsubst %/,%,$(dir $(wildcard backends/*/*.c))))
BACKEND_BINS := $(sort $(BACKENDS:%=$(B)/hyve-%))
TOOL_BINS := $(if $(wildcard tools/hyvectl.c),$(B)/hyvectl)

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
AUNIT_BINS := $(UNIT_SRC:tests/unit/%.c=$(B)/asan/tests/%)

DEPS_STAMP := $(B)/.deps-ok

all: $(DEPS_STAMP) $(B)/hyve $(BACKEND_BINS) $(TOOL_BINS) $(B)/testguest

# Installs missing Debian packages (as root) or names them (otherwise).
$(DEPS_STAMP): tools/deps.sh
	@mkdir -p $(B)
	@sh tools/deps.sh
	@touch $@
deps:
	@sh tools/deps.sh

$(B)/obj/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<
$(B)/asan/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(ASAN) -O1 -MMD -MP -c -o $@ $<

# ar keeps one member per file name: two sources may not share a name.
DUPS := $(sort $(foreach f,$(notdir $(LIB_SRC)),$(if $(filter-out 1,$(words $(filter %/$(f),$(LIB_SRC)))),$(f))))
$(if $(DUPS),$(error library sources share a file name: $(DUPS)))

$(B)/libhyve.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^
$(B)/asan/libhyve.a: $(ALIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/hyve: $(B)/obj/core/main.o $(B)/libhyve.a
	$(CC) $(CFLAGS) $(STATIC) -o $@ $^ $(LDLIBS)

define backend_rule
$(B)/hyve-$(1): $(patsubst %.c,$(B)/obj/%.o,$(wildcard backends/$(1)/*.c)) $(B)/libhyve.a
	$$(CC) $$(CFLAGS) $$(STATIC) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach b,$(sort $(BACKENDS)),$(eval $(call backend_rule,$(b))))

$(B)/hyvectl: $(B)/obj/tools/hyvectl.o $(B)/libhyve.a
	$(CC) $(CFLAGS) $(STATIC) -o $@ $^ $(LDLIBS)

$(B)/tests/%: $(B)/obj/tests/unit/%.o $(B)/libhyve.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ -lcmocka $(LDLIBS)
$(B)/asan/tests/%: $(B)/asan/tests/unit/%.o $(B)/asan/libhyve.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(ASAN) -o $@ $^ -lcmocka $(LDLIBS)

-include tests/guest/guest.mk
-include tests/fuzz/fuzz.mk
-include bench/bench.mk

# --- tests ---------------------------------------------------------------

# t_upgrade's new cores that fail: one reads state version 2 only, one
# crashes, one never answers.
UPG_BINS := $(B)/tests/hyve-v2 $(B)/tests/upgrade-crash $(B)/tests/upgrade-hang
$(B)/obj-v2/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DSNAP_VERSION=2 -DSNAP_VERSION_MIN=2 -c -o $@ $<
$(B)/tests/hyve-v2: $(B)/obj/core/main.o $(B)/obj-v2/core/snapshot.o $(B)/obj-v2/core/upgrade.o $(B)/libhyve.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(STATIC) -o $@ $^ $(LDLIBS)
$(B)/tests/upgrade-%: tests/upgrade/badcore.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $<

# badback: a vhost-user backend that misbehaves on command (test_hostile_backend).
unit: $(UNIT_BINS) $(BACKEND_BINS) $(B)/tests/badback
	@sh tests/run-unit.sh $(UNIT_BINS)
unit-asan: $(AUNIT_BINS) $(BACKEND_BINS) $(B)/asan/tests/badback
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	 sh tests/run-unit.sh $(AUNIT_BINS)
# The Debian guest is built here, natively (the lab VM has no network).
integration: all $(B)/vu_record fuzz-build linux-guest $(UPG_BINS)
	@sh tests/integration/run.sh

check: $(DEPS_STAMP)
	@$(MAKE) --no-print-directory all
	@sh tests/check.sh

demo: $(DEPS_STAMP)
	@$(MAKE) --no-print-directory all
	@sh tools/demo.sh

# Debian's cloud kernel and an initramfs, from Debian packages (see docs/LINUX.md).
linux-guest: $(DEPS_STAMP)
	@sh tools/linux-guest.sh

clean:
	rm -rf $(B)

.PHONY: all deps unit unit-asan integration check demo clean linux-guest
.SECONDARY:
-include $(shell find $(B)/obj $(B)/asan $(B)/fuzz -name '*.d' -type f 2>/dev/null)
