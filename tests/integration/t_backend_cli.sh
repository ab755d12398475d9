# The standalone backends' command line: --help (exit 0) names every
# option, and the README documents each of them; a bad option or an empty
# --socket is refused with exit 2 and a line that names it.  Needs no KVM.
. "$(dirname "$0")/lib.sh"
for b in blk net rnd vsock balloon; do
	bin=$ROOT/build/hyve-$b
	[ -x "$bin" ] || fail "$bin is missing; run make"
	expect_exit 0 "$bin" --help >"$TMP/help" 2>"$TMP/err"
	for o in --socket --fd --name --stats-fd --no-sandbox --uid --gid --help; do
		grep -q -- "$o" "$TMP/help" || fail "hyve-$b --help does not name $o"
	done
	for o in $(grep -o -- '--[a-z][a-z-]*' "$TMP/help" | sort -u); do
		grep -q -- "\`$o" "$ROOT/README.md" ||
		    fail "hyve-$b $o is not in README.md"
	done
	expect_exit 2 "$bin" --socket "" >"$TMP/out" 2>"$TMP/err"
	grep -q -- "--socket" "$TMP/err" || fail "hyve-$b --socket '': $(cat "$TMP/err")"
	[ "$(wc -l <"$TMP/err")" -eq 1 ] || fail "hyve-$b --socket '': $(cat "$TMP/err")"
	expect_exit 2 "$bin" --frobnicate >"$TMP/out" 2>"$TMP/err"
	echo "hyve-$b: --help, --socket '' and a bad option: ok"
done
echo ok
