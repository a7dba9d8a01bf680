#!/bin/sh
# fuzz/build.sh [OUTDIR]: build the libFuzzer targets with clang, straight
# from the sources (no autotools: the project itself builds with gcc).
#
#   OUTDIR              where objects and binaries go
#                       (default: ${TMPDIR:-/tmp}/xp-fuzz-build)
#   FUZZ_CC=clang-14    the compiler (must support -fsanitize=fuzzer)
#   FUZZ_TARGETS="domain cert"   build only these
#   FUZZ_REPLAY=1       also build <target>-replay binaries with ${CC:-gcc}
#                       (fuzz/replay.c as main, no sanitizers: for valgrind)
#
# The core (module/core/*.c) and, when present, tools/lync_csv.c and
# module/evaluator/sandbox.c are compiled with -fsanitize=fuzzer-no-link,address,
# undefined; each fuzz/fuzz_<target>.c is linked with -fsanitize=fuzzer.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
out=${1:-${TMPDIR:-/tmp}/xp-fuzz-build}
cc=${FUZZ_CC:-clang}
mkdir -p "$out/obj" "$out/replay-obj"

"$cc" --version >/dev/null 2>&1 || { echo "build.sh: $cc not found" >&2; exit 77; }
probe="$out/probe.c"
printf '#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' > "$probe"
"$cc" -fsanitize=fuzzer,address,undefined "$probe" -o "$out/probe" 2>/dev/null || {
	echo "build.sh: $cc cannot build -fsanitize=fuzzer programs (Debian: apt-get install clang libclang-rt-14-dev)" >&2
	exit 77
}

deps="libcrypto libidn2"
core_cflags=$(pkg-config --cflags $deps)
core_libs=$(pkg-config --libs $deps)
lua_pc=
for pc in lua5.4 lua-5.4 lua54 lua5.3 lua-5.3 lua53; do
	if pkg-config --exists "$pc"; then lua_pc=$pc; break; fi
done

# The version is written once, in configure.ac's AC_INIT.
version=$(sed -n 's/^AC_INIT(\[[^]]*\], *\[\([^]]*\)\].*/\1/p' "$top/configure.ac")
VERSION_DEF="-DXP_VERSION=\"${version:-unknown}\""

SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
CFLAGS="-std=c99 -D_POSIX_C_SOURCE=200809L -g -O1 -Wall -Wextra -Wno-unused-parameter -Wno-unused-function $SAN"
INC="$VERSION_DEF -I$top/module/core -I$top/module/evaluator -I$top/tools -I$here"

compile() { # src obj extra-flags
	"$cc" $CFLAGS -fsanitize=fuzzer-no-link $3 $INC -c "$1" -o "$2"
}

core_objs=
for src in "$top"/module/core/*.c; do
	o="$out/obj/$(basename "$src" .c).o"
	compile "$src" "$o" "$core_cflags"
	core_objs="$core_objs $o"
done

all="domain builder table cert"
if [ -f "$top/tools/lync_csv.h" ] && [ -f "$top/tools/lync_csv.c" ]; then
	all="$all lync"
	compile "$top/tools/lync_csv.c" "$out/obj/tool_lync_csv.o" ""
fi
if [ -f "$top/module/evaluator/sandbox.h" ] && [ -f "$top/module/evaluator/sandbox.c" ] && [ -n "$lua_pc" ]; then
	all="$all sandbox"
	compile "$top/module/evaluator/sandbox.c" "$out/obj/tool_sandbox.o" "$(pkg-config --cflags $lua_pc)"
fi
targets=${FUZZ_TARGETS:-$all}

for t in $targets; do
	extra_objs= ; extra_libs=
	case $t in
	lync) extra_objs="$out/obj/tool_lync_csv.o" ;;
	sandbox) extra_objs="$out/obj/tool_sandbox.o"; extra_libs="$(pkg-config --libs $lua_pc) -lm" ;;
	esac
	compile "$here/fuzz_$t.c" "$out/obj/fuzz_$t.o" ""
	"$cc" $CFLAGS -fsanitize=fuzzer "$out/obj/fuzz_$t.o" $core_objs $extra_objs \
		$core_libs $extra_libs -o "$out/fuzz_$t"
	echo "built $out/fuzz_$t"
done

if [ "${FUZZ_REPLAY:-0}" = 1 ]; then
	rcc=${CC:-gcc}
	RFLAGS="-std=c99 -D_POSIX_C_SOURCE=200809L -g -O0 -Wall -Wextra -Wno-unused-parameter -Wno-unused-function"
	robjs=
	for src in "$top"/module/core/*.c; do
		o="$out/replay-obj/$(basename "$src" .c).o"
		$rcc $RFLAGS $core_cflags $INC -c "$src" -o "$o"
		robjs="$robjs $o"
	done
	$rcc $RFLAGS $INC -c "$here/replay.c" -o "$out/replay-obj/replay.o"
	for t in $targets; do
		extra_objs= ; extra_libs=
		case $t in
		lync) $rcc $RFLAGS $INC -c "$top/tools/lync_csv.c" -o "$out/replay-obj/lync_csv.o"
		      extra_objs="$out/replay-obj/lync_csv.o" ;;
		sandbox) $rcc $RFLAGS $INC $(pkg-config --cflags $lua_pc) -c "$top/module/evaluator/sandbox.c" -o "$out/replay-obj/sandbox.o"
		      extra_objs="$out/replay-obj/sandbox.o"; extra_libs="$(pkg-config --libs $lua_pc) -lm" ;;
		esac
		$rcc $RFLAGS $INC -c "$here/fuzz_$t.c" -o "$out/replay-obj/fuzz_$t.o"
		$rcc "$out/replay-obj/fuzz_$t.o" "$out/replay-obj/replay.o" $robjs $extra_objs \
			$core_libs $extra_libs -o "$out/$t-replay"
		echo "built $out/$t-replay"
	done
fi
echo "$targets" > "$out/targets"
