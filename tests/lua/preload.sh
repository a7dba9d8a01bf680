# tests/lua/preload.sh: sourced by the scripts that load the Lua module into
# the stock interpreter.  In a sanitizer build (configure
# --enable-sanitizers) the interpreter is not instrumented, so the module's
# sanitizer runtimes must be loaded first:
#
#   xp_sanitizer_preload SO     put SO's libasan/libubsan in LD_PRELOAD
xp_sanitizer_preload() {
	_xp_preload=`ldd "$1" 2>/dev/null | sed -n \
		-e 's/^[[:space:]]*libasan\.so[^ ]* => \([^ ]*\) .*/\1/p' \
		-e 's/^[[:space:]]*libubsan\.so[^ ]* => \([^ ]*\) .*/\1/p' |
		tr '\n' ':' | sed 's/:$//'`
	if test -n "$_xp_preload"; then
		LD_PRELOAD="$_xp_preload${LD_PRELOAD:+:$LD_PRELOAD}"
		export LD_PRELOAD
	fi
}
