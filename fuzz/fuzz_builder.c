/*
 * fuzz_builder.c: partner records from arbitrary input through the C API.
 * The input is a short program of builder calls (see fuzz_prog.h); after
 * finish, a table (if any) is looked up with domains taken from the input
 * and every verdict is asked.  Checks: no crash, no leak (ASan and the
 * context allocator's block count), correct osize in every realloc/free,
 * a failed finish leaves *out untouched, XP_ENOMEM only after an injected
 * allocation failure.
 */
#include "fuzz_prog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_run_program(data, size, 64);
	return 0;
}
