# hyvectl audit on a VM with blk, net and rnd: every backend is confined as
# the kernel itself reports it, and hyvectl exits 0.
. "$(dirname "$0")/lib.sh"
need_kvm
need_netns
need_cmd python3
truncate -s 4M "$TMP/disk.img"
netns_script "$TMP/run.sh"
cat >>"$TMP/run.sh" <<SCRIPT
exec "$HYVE" -m 64M -s 0,hostbridge -s 31,lpc -l com1,stdio -l debug-exit \
    -s 2,virtio-net,hyvetap2 -s 3,virtio-blk,"$TMP/disk.img" -s 4,virtio-rnd \
    -o control.path="$TMP/vm.sock" -o boot.kernel="$GUEST" \
    -o 'boot.cmdline=test=idle' vmaudit </dev/null >"$TMP/out" 2>"$TMP/err"
SCRIPT
# unshare execs sh, which execs hyve: one pid.
unshare -n sh "$TMP/run.sh" &
pid=$!
wait_for "idle: waiting" "$TMP/out" 30
"$ROOT/build/hyvectl" --socket "$TMP/vm.sock" audit vmaudit --json >"$TMP/audit.json"
echo $? >"$TMP/arc"
"$ROOT/build/hyvectl" --socket "$TMP/vm.sock" audit vmaudit >"$TMP/audit.txt"
kill -TERM $pid
wait $pid
cat "$TMP/audit.txt"
[ "$(cat "$TMP/arc")" = 0 ] || fail "hyvectl audit exited $(cat "$TMP/arc")"
python3 - "$TMP/audit.json" "$TMP/disk.img" <<'PY' || fail "the audit does not show confined backends (above)"
import json, sys
procs = json.load(open(sys.argv[1]))["processes"]
disk = sys.argv[2]
core = [p for p in procs if p["role"] == "core"][0]["audit"]
core_ns = {k: v["id"] for k, v in core["namespaces"].items()}
roles = sorted(p["role"] for p in procs if p["role"] != "core")
assert roles == ["blk", "net", "rnd"], roles
for p in procs:
    if p["role"] == "core":
        continue
    a, who = p["audit"], "%s (pid %d)" % (p["name"], p["pid"])
    assert p["verdict"] == "OK", (who, p["reason"])
    assert a["seccomp"] == 2 and a["seccomp_filters"] >= 1, who
    assert a["no_new_privs"] == 1, who
    caps = a["capabilities"]
    for k in ("effective", "permitted", "bounding", "ambient"):
        assert int(caps[k], 16) == 0, (who, k, caps[k])
    ns = {k: v["id"] for k, v in a["namespaces"].items()}
    for k in ("user", "mnt", "net", "pid"):
        assert ns[k] and ns[k] != core_ns[k], (who, k, ns[k])
    assert not a["root"]["host"], who
    paths = [f["target"] for f in a["fds"] if f["target"].startswith("/")
             and not f["target"].startswith("/memfd:") and f["target"] != "/dev/null"
             and not f["target"].startswith(sys.argv[1].rsplit("/", 1)[0] + "/err")]
    # its device: the disk for blk, the tap (shown as /dev/net/tun) for net
    allowed = {"blk": [disk], "net": ["/dev/net/tun"]}.get(p["role"], [])
    assert all(t in allowed for t in paths), (who, paths)
    prof = p["profile"]
    assert prof["kind"] == "allowlist" and prof["count"] < 40, (who, prof["count"])
print("every backend confined:", ", ".join("%s %d syscalls" % (p["name"], p["profile"]["count"])
      for p in procs if p["role"] != "core"))
PY
echo ok
