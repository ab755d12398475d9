# Debian's cloud kernel, fetched once with apt-get download and kept in
# $LAB_CACHE/kernel-VERSION/ (boot/vmlinuz-VERSION, lib/modules/VERSION with
# its modules.dep).  Sourced by tools/labvm and tools/linux-guest.sh.
LAB_CACHE=${HYVE_LAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hyve/lab}

# lab_kernel: prints the kernel's directory; fetches it when the cache has
# none.  Once cached it needs no network.
lab_kernel() {
	mkdir -p "$LAB_CACHE" || { echo "labvm: cannot make $LAB_CACHE" >&2; return 1; }
	_k=$(ls -d "$LAB_CACHE"/kernel-* 2>/dev/null | grep -v '\.tmp$' | sort -V | tail -n 1)
	if [ -n "$_k" ] && [ -f "$_k/ok" ]; then
		echo "$_k"
		return 0
	fi
	_pkg=$(lab_kernel_pkg) || return 1
	_free=$(df -Pk "$LAB_CACHE" | awk 'NR == 2 { print $4 }')
	if [ "${_free:-0}" -lt 307200 ]; then
		echo "labvm: less than 300 MiB free in $LAB_CACHE for the kernel package; free some space or set HYVE_LAB_CACHE" >&2
		return 1
	fi
	_d=$LAB_CACHE/kernel-${_pkg#linux-image-}
	rm -rf "$_d.tmp"
	mkdir -p "$_d.tmp"
	echo "labvm: fetching $_pkg (Debian's cloud kernel) into $LAB_CACHE" >&2
	(cd "$_d.tmp" && apt-get download "$_pkg" >/dev/null 2>&1) || {
		rm -rf "$_d.tmp"
		echo "labvm: apt-get download $_pkg failed; check the Debian mirror (apt-get update)" >&2
		return 1
	}
	dpkg-deb -x "$_d.tmp"/*.deb "$_d.tmp" && rm -f "$_d.tmp"/*.deb || {
		echo "labvm: cannot unpack $_pkg into $_d.tmp (disk full?)" >&2
		return 1
	}
	_v=$(ls "$_d.tmp/lib/modules")
	depmod -b "$_d.tmp" "$_v" || { echo "labvm: depmod failed for $_v" >&2; return 1; }
	touch "$_d.tmp/ok"
	rm -rf "$_d"
	mv "$_d.tmp" "$_d"
	echo "$_d"
}

# lab_kernel_pkg: the package linux-image-cloud-amd64 points at.
lab_kernel_pkg() {
	_p=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
	    awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
	if [ -z "$_p" ] && [ "$(id -u)" = 0 ]; then
		apt-get update -qq >/dev/null 2>&1
		_p=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
		    awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
	fi
	[ -n "$_p" ] && { echo "$_p"; return 0; }
	echo "labvm: apt knows no linux-image-cloud-amd64 (no Debian mirror reachable?); run apt-get update" >&2
	return 1
}
