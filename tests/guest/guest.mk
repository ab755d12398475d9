# The test guest: a freestanding PVH kernel loaded at 1 MiB.
GUEST_CC ?= gcc
GUEST_SRC := $(wildcard tests/guest/*.c) $(wildcard tests/guest/*.S)
GUEST_OBJ := $(patsubst tests/guest/%,$(B)/guest/%.o,$(GUEST_SRC))
GUEST_CFLAGS := -m64 -std=gnu11 -O2 -g -Wall -Wextra -Werror -ffreestanding \
	-fno-pic -fno-pie -mno-red-zone -mgeneral-regs-only -fno-stack-protector \
	-fno-asynchronous-unwind-tables -fno-builtin -fno-tree-loop-distribute-patterns \
	-mcmodel=small -fno-strict-aliasing -Itests/guest
GUEST_LDFLAGS := -m64 -nostdlib -static -no-pie -Wl,--build-id=none \
	-Wl,-z,noexecstack -Wl,--no-warn-rwx-segments -T tests/guest/guest.ld

$(B)/guest/%.c.o: tests/guest/%.c $(wildcard tests/guest/*.h)
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS) -c -o $@ $<
$(B)/guest/%.S.o: tests/guest/%.S
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS) -c -o $@ $<

$(B)/testguest: $(GUEST_OBJ) tests/guest/guest.ld
	$(GUEST_CC) $(GUEST_LDFLAGS) -o $@ $(GUEST_OBJ)
