/*
 * fuzz_table.c: whole table builds from many records, same decoder as
 * fuzz_builder (fuzz_prog.h) without the op limit, for larger inputs
 * (run with -max_len=65536).  Besides the builder checks: two records whose
 * primary domains normalise alike never give a table, no domain is listed
 * twice in a built table, and every listed domain looks up its partner.
 */
#include "fuzz_prog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_run_program(data, size, (size_t)-1);
	return 0;
}
