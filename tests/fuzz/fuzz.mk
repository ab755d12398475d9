# Fuzz targets (libFuzzer, clang): `make fuzz FUZZ_SECONDS=N`, `make fuzz-check`.
# Included by the top Makefile.

FZ_CC		:= clang
FZ_SAN		:= -fsanitize=address,undefined -fno-sanitize-recover=undefined \
		   -fno-omit-frame-pointer
FZ_CFLAGS	:= -std=gnu11 -O1 -g -Wall -Wextra -D_GNU_SOURCE -I. -pthread \
		   -fno-strict-aliasing $(FZ_SAN) -fsanitize=fuzzer-no-link
FZ_LDLIBS	:= -pthread -lseccomp -ljson-c -luring
FZ		:= $(B)/fuzz
FUZZ_SECONDS	?= 60
FUZZ_CHECK_RUNS	?= 20000
FUZZ_CPU	?=
FUZZ_TARGETS	:= ring vu_server vu_frontend requests devices config

# Everything the core and the runtime are made of, plus the blk backend.
# net.c is compiled through a shim that reaches its static functions;
# rnd_shim.c drives rnd.c.  run.sh closes the targets' stderr
# (-close_fd_mask), as the code under test complains millions of times.
FZ_LIB_SRC	:= $(LIB_SRC) backends/blk/blk.c
FZ_LIB_OBJ	:= $(FZ_LIB_SRC:%.c=$(FZ)/obj/%.o)

$(FZ)/obj/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(FZ_CC) $(FZ_CFLAGS) -MMD -MP -c -o $@ $<
$(FZ)/obj/tests/fuzz/%.o: tests/fuzz/%.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(FZ_CC) $(FZ_CFLAGS) -Werror -MMD -MP -c -o $@ $<

$(FZ)/libhyve.a: $(FZ_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# What each target links: its own helpers, then either the few sources it
# needs (so that it builds while unrelated files are mid-change) or the
# whole library.
FZ_RT		:= backends/guestmem.c backends/vring.c ipc/vhost_user.c ipc/virtq.c
FZ_USE_ring	:= $(FZ_RT)
FZ_USE_vu_server := tests/fuzz/fake_backend.c backends/vu_server.c $(FZ_RT) \
		   $(FZ)/libhyve.a
FZ_USE_requests	:= tests/fuzz/net_shim.c tests/fuzz/rnd_shim.c \
		   tests/fuzz/vsock_shim.c backends/vsock/vsock.c \
		   backends/rnd/rnd.c backends/blk/blk.c backends/vu_server.c \
		   $(FZ_RT) $(FZ)/libhyve.a
FZ_USE_vu_frontend := core/vu_frontend.c core/vm.c core/config.c core/bus.c \
		   ipc/vhost_user.c \
		   lib/util.c
FZ_USE_devices	:= tests/fuzz/fake_backend.c $(FZ)/libhyve.a
FZ_USE_config	:= $(FZ)/libhyve.a
fz_objs = $(patsubst %.c,$(FZ)/obj/%.o,$(1))

define fuzz_rule
$(FZ)/fuzz_$(1): $(FZ)/obj/tests/fuzz/fuzz_$(1).o $(FZ)/obj/lib/log.o \
    $(call fz_objs,$(FZ_USE_$(1)))
	$$(FZ_CC) $$(FZ_SAN) -fsanitize=fuzzer -o $$@ $$^ $$(FZ_LDLIBS)
endef
$(foreach t,$(FUZZ_TARGETS),$(eval $(call fuzz_rule,$(t))))

FZ_BINS := $(FUZZ_TARGETS:%=$(FZ)/fuzz_%)

fuzz-build: $(FZ_BINS)

# Passes vhost-user messages through and writes them as seeds.
$(B)/vu_record: $(B)/obj/tests/fuzz/vu_record.o $(B)/libhyve.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# Writes the seed corpora (tests/fuzz/corpus/*) anew: the laid-out ones,
# then the conversations recorded from a real VM (needs /dev/kvm).
fuzz-seeds: all $(B)/vu_record $(FZ)/fuzz_devices
	python3 tests/fuzz/gen_seeds.py tests/fuzz/corpus
	sh tests/fuzz/record.sh tests/fuzz/corpus

fuzz: $(FZ_BINS)
	@FZ=$(FZ) FUZZ_CPU=$(FUZZ_CPU) sh tests/fuzz/run.sh fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-check: $(FZ_BINS)
	@FZ=$(FZ) sh tests/fuzz/run.sh check $(FUZZ_CHECK_RUNS) $(FUZZ_TARGETS)

.PHONY: fuzz fuzz-build fuzz-check fuzz-seeds
