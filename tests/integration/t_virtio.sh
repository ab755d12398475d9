# The three virtio devices, each served by its own backend process over
# vhost-user: rng, blk (pattern found in the image file), net (frames both
# ways through a tap in a private network namespace), hostile rings.
. "$(dirname "$0")/lib.sh"
need_kvm
need_netns
need_cmd python3
IMG=$TMP/disk.img
truncate -s 16M "$IMG"
netns_script "$TMP/run.sh" hyvetap0
cat >>"$TMP/run.sh" <<SCRIPT
python3 "$ROOT/tests/integration/netpeer.py" hyvetap0 60 "$TMP/done" "$TMP/ready" >"$TMP/peer" 2>&1 &
peer=\$!
while [ ! -e "$TMP/ready" ] && kill -0 \$peer 2>/dev/null; do sleep 0.05; done
"$HYVE" -m 128M -s 0,hostbridge -s 31,lpc -l com1,stdio -l debug-exit \
    -s 2,virtio-net,hyvetap0 -s 3,virtio-blk,"$IMG" -s 4,virtio-rnd \
    -o boot.kernel="$GUEST" -o 'boot.cmdline=test=rng,blk,net,hostile' \
    vmv </dev/null >"$TMP/out" 2>"$TMP/err"
echo \$? >"$TMP/rc"
touch "$TMP/done"
wait \$peer
SCRIPT
unshare -n sh "$TMP/run.sh"
rc=$(cat "$TMP/rc")
cat "$TMP/out" "$TMP/err" "$TMP/peer"
[ "$rc" -eq 1 ] || fail "hyve exited $rc, expected 1"
grep -qx "4 passed, 0 failed" "$TMP/out" || fail "expected '4 passed, 0 failed'"
sector=$(sed -n 's/^blk: pattern at sector \([0-9]*\).*/\1/p' "$TMP/out" | head -1)
[ -n "$sector" ] || fail "the guest did not say where it wrote its pattern"
dd if="$IMG" bs=512 skip="$sector" count=1 2>/dev/null | grep -q "HYVE-BLK-TEST sector $sector" ||
    fail "the pattern is not in the image at sector $sector"
echo "pattern found in the image at sector $sector"
