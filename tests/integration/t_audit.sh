# hyvectl audit on a VM with blk, net, rnd and balloon: the core (not root, no
# capabilities), the monitor (its few) and every backend are confined as
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
    -s 5,virtio-balloon -o control.path="$TMP/vm.sock" -o boot.kernel="$GUEST" \
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
roles = sorted(p["role"] for p in procs if p["role"] not in ("core", "monitor"))
assert roles == ["balloon", "blk", "net", "rnd"], roles
# The core faces the guest: not root, no capability, its filter.
c = [p for p in procs if p["role"] == "core"][0]
assert c["verdict"] == "OK", c["reason"]
assert all(u != 0 for u in core["uid"]) and all(g != 0 for g in core["gid"]), core["uid"]
for k in ("effective", "permitted", "inheritable", "ambient"):
    assert int(core["capabilities"][k], 16) == 0, ("core", k)
assert core["no_new_privs"] == 1 and core["seccomp"] == 2
# The monitor: listed, its few capabilities and no others, its filter.
m = [p for p in procs if p["role"] == "monitor"]
assert len(m) == 1 and m[0]["verdict"] == "OK", m
ma = m[0]["audit"]
allowed = (1 << 1) | (1 << 6) | (1 << 7) | (1 << 12) | (1 << 19)
for k in ("effective", "permitted", "bounding", "inheritable", "ambient"):
    assert int(ma["capabilities"][k], 16) & ~allowed == 0, ("monitor", k)
assert ma["no_new_privs"] == 1 and ma["seccomp"] == 2
assert m[0]["profile"]["kind"] == "allowlist"
for p in procs:
    if p["role"] in ("core", "monitor"):
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
             and f["target"] != "/hyve-ram (deleted)"
             and not f["target"].startswith(sys.argv[1].rsplit("/", 1)[0] + "/err")]
    # its device: the disk for blk, the tap (shown as /dev/net/tun) for net
    allowed = {"blk": [disk], "net": ["/dev/net/tun"]}.get(p["role"], [])
    assert all(t in allowed for t in paths), (who, paths)
    prof = p["profile"]
    assert prof["kind"] == "allowlist" and prof["count"] < 40, (who, prof["count"])
print("every backend confined:", ", ".join("%s %d syscalls" % (p["name"], p["profile"]["count"])
      for p in procs if p["role"] not in ("core", "monitor")))
PY
echo ok
