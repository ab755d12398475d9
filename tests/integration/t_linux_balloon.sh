# Free page reporting under Debian's own virtio_balloon driver: the guest
# (hyve.test=balloon, tests/linux/hyve-test) writes 192 MiB to /dev/shm and
# removes it; the memory hyve's guest RAM holds on the host (hyvectl
# status's memory_held, the memfd's allocated size) must first grow by it
# and then give most of it back, and the balloon's counters must say how
# much was given back.  A second disk, serial "go", carries the host's
# "1" (measured the filled memory) and "2" (saw it come back) to the guest.
# lab: 180 s
# timeout: 900 s
. "$(dirname "$0")/lib.sh"
need_kvm
. "$(dirname "$0")/linux_lib.sh"
truncate -s 1M "$TMP/go.img"
: >"$TMP/peer"

timeout -k 5 600 "$HYVE" -c 1 -m 512M -s 0,hostbridge -s 31,lpc -l com1,stdio \
    -s 3,virtio-blk,"$TMP/root.img",ser=root -s 4,virtio-balloon \
    -s 5,virtio-blk,"$TMP/go.img",ser=go -o control.path="$SOCK" \
    -o boot.kernel="$L/vmlinuz" -o boot.initrd="$L/initrd.gz" \
    -o 'boot.cmdline=console=ttyS0 quiet panic=-1 root=/dev/vda systemd.show_status=0 hyve.test=balloon' \
    vmlinux-balloon </dev/null >"$TMP/out" 2>"$TMP/err" &
ns=$!
echo $ns >"$TMP/hyve.pid"

# held: MiB of guest RAM the host holds; given: MiB the balloon gave back.
status() { "$CTL" --socket "$SOCK" status vmlinux-balloon --json 2>"$TMP/ctl.err"; }
held() {
	status | awk -F'[:,]' '/"memory_held"/ { printf "%d\n", $2 / 1048576 }'
}
given() {
	status | awk -F'[:,]' '/"emulation": *"virtio-balloon"/ { b = 1 }
	    b && /"bytes"/ { printf "%d\n", $2 / 1048576; exit }'
}
say() { echo "$*"; echo "$*" >>"$TMP/log"; }
go() { printf "$1" | dd of="$TMP/go.img" conv=notrunc status=none; }

wait_n "balloon: filled 192 MiB" "$TMP/out" 1 400 || stop "the guest did not fill its memory"
full=$(held)
[ -n "$full" ] || stop "hyvectl status gave no memory_held: $(cat "$TMP/ctl.err")"
say "filled: the host holds $full MiB of guest RAM"
go 1
wait_n "balloon: freed 192 MiB" "$TMP/out" 1 120 || stop "the guest did not free its memory"
# Reporting runs 2 s (guest time) after the free, in 2 MiB blocks: wait
# for most of the 192 MiB to come back, at most 180 s.
t0=$(date +%s)
end=$((t0 + 180))
while now=$(held); [ -n "$now" ] && [ "$now" -gt $((full - 128)) ]; do
	kill -0 $ns 2>/dev/null || stop "hyve exited while the memory was being given back"
	[ "$(date +%s)" -le $end ] || stop "the host still holds $now MiB of guest RAM 180 s after the guest freed 192 MiB (held $full MiB filled)"
	sleep 0.5
done
g=$(given)
say "freed: the host holds $now MiB (was $full MiB) $(($(date +%s) - t0)) s after the guest's rm; the balloon gave back $g MiB in all"
go 2
wait $ns
rc=$?
show
grep -q "^PASS balloon" "$TMP/out" || fail "the guest's balloon check failed: $(grep ^FAIL "$TMP/out")"
grep -q "^1 passed, 0 failed" "$TMP/out" || fail "the guest's checks did not all pass"
[ "$rc" -eq 1 ] || fail "poweroff: hyve exited $rc, expected 1"
[ "${g:-0}" -ge 128 ] || fail "the balloon's counters say $g MiB given back, expected at least 128"
echo "ok: $(cat "$TMP/log" | tr '\n' ' ')"
