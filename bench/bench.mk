# Benchmarks: `make bench` runs every part (bounded) and rewrites the
# results section of docs/PERFORMANCE.md.  Included by the top Makefile.

BENCH_BINS := $(B)/bench/exitpath $(B)/bench/vublk $(B)/bench/launch \
	$(B)/bench/restart $(B)/bench/flood $(B)/bench/vunet $(B)/bench/stamp

$(B)/bench/%: $(B)/obj/bench/%.o $(B)/libhyve.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# The frontends share bench/fe.c.
$(B)/bench/vublk $(B)/bench/vunet: $(B)/bench/%: $(B)/obj/bench/%.o \
    $(B)/obj/bench/fe.o $(B)/libhyve.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

bench-bins: $(BENCH_BINS)

bench: $(DEPS_STAMP)
	@$(MAKE) --no-print-directory all bench-bins
	@timeout -k 10 9000 sh bench/run.sh

.PHONY: bench bench-bins
