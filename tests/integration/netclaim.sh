# tests/integration/netclaim.sh: claim a free loopback /24 for one test run.
# Sourced by tests/integration/lib.sh (packaging/smoke-test.sh uses it through
# lib.sh, with the prefix 127.73).
#
# xp_claim_net PREFIX: PREFIX is two octets such as 127.71; picks X (first
# from the PID, then at random), claims PREFIX.X.0/24 with a lock directory
# ${TMPDIR:-/tmp}/xp-net-PREFIX.X.lock holding our PID (so parallel runs
# never share it) and checks that nothing listens on it yet.  On success it
# sets XP_CLAIMED_NET (PREFIX.X) and XP_CLAIMED_LOCK (remove it when done)
# and returns 0; after 60 tries it returns 1.  Never 127.0.0.x.
xp_claim_net() {
	local prefix=$1 try x lock owner re
	case $prefix in 127.0) return 1 ;; esac
	re="^${prefix//./\\.}\\."
	for try in $(seq 1 60); do
		if [ "$try" -eq 1 ]; then x=$(($$ % 254 + 1)); else x=$((RANDOM % 254 + 1)); fi
		lock=${TMPDIR:-/tmp}/xp-net-$prefix.$x.lock
		if ! mkdir "$lock" 2>/dev/null; then
			owner=$(cat "$lock/pid" 2>/dev/null)
			# A lock of a dead run is removed for the next try; one being
			# created right now (no pid yet) is left alone.
			if [ -n "$owner" ] && ! kill -0 "$owner" 2>/dev/null; then rm -rf "$lock"; fi
			continue
		fi
		echo $$ >"$lock/pid"
		if ss -Hltn 2>/dev/null | awk '{print $4}' | grep -q "$re$x\\."; then
			rm -rf "$lock"
			continue
		fi
		XP_CLAIMED_NET=$prefix.$x
		XP_CLAIMED_LOCK=$lock
		return 0
	done
	return 1
}
