/*
 * fuzz_lync.c: the Lync / Skype for Business CSV importer (tools/lync_csv.c)
 * on arbitrary bytes: lcsv_parse, then lync_import_parse, every field and
 * value read back, and the mapped rows fed through the core's builder the
 * way an import would, so CSV-borne strings reach the validator too.
 * Checks: no crash or leak; on failure the message is a NUL-terminated
 * sentence in the caller's buffer and *out is left NULL; rows and fields
 * have the lengths they claim.
 */
#include "fuzz_common.h"
#include "lync_csv.h"

static size_t touch_row(const lcsv_row *row)
{
	size_t i, n = 0;
	FZ_CHECK(row->nfields == 0 || row->fields != NULL);
	for (i = 0; i < row->nfields; i++) {
		FZ_CHECK(row->fields[i].text != NULL);
		/* text is NUL-terminated at len (it may hold NULs before) */
		FZ_CHECK(row->fields[i].text[row->fields[i].len] == '\0');
		n += row->fields[i].len;
	}
	return n;
}

static void feed_builder(const lync_import *im)
{
	fz_alloc al = {0, 0, 0, 0};
	xp_ctx *ctx = xp_ctx_new(fz_allocf, &al, NULL, NULL);
	xp_builder *b;
	xp_table *t = NULL;
	size_t i, c, k;
	int rc;

	FZ_CHECK(ctx != NULL);
	b = xp_builder_new(ctx);
	FZ_CHECK(b != NULL);
	for (i = 0; i < im->npartners; i++) {
		const lync_partner *p = &im->partners[i];
		if (p->problem != NULL || p->identity == NULL)
			continue;
		FZ_CHECK(xp_builder_begin(b, p->identity,
		                          strlen(p->identity)) == XP_OK);
		for (c = 0; c < LYNC_COLUMNS; c++) {
			const lync_value *v = &p->values[c];
			const char *key = lync_key_name((lync_column)c);
			FZ_CHECK(key != NULL);
			if (c == LYNC_IDENTITY || key[0] == '\0')
				continue;
			switch (v->kind) {
			case LYNC_ABSENT:
				break;
			case LYNC_STRING:
				FZ_CHECK(v->text != NULL);
				rc = xp_builder_set_string(b, key, v->text,
				                           strlen(v->text));
				FZ_CHECK(rc == XP_OK);
				break;
			case LYNC_BOOLEAN:
				rc = xp_builder_set_boolean(b, key, v->boolean);
				FZ_CHECK(rc == XP_OK);
				break;
			case LYNC_INTEGER:
				rc = xp_builder_set_integer(b, key, v->integer);
				FZ_CHECK(rc == XP_OK);
				break;
			case LYNC_LIST: {
				size_t *lens =
				        calloc(v->nitems + 1, sizeof(*lens));
				FZ_CHECK(lens != NULL);
				FZ_CHECK(v->nitems == 0 || v->items != NULL);
				for (k = 0; k < v->nitems; k++) {
					FZ_CHECK(v->items[k] != NULL);
					lens[k] = strlen(v->items[k]);
				}
				rc = xp_builder_set_list(
				        b, key, (const char *const *)v->items,
				        lens, v->nitems);
				FZ_CHECK(rc == XP_OK);
				free(lens);
				break;
			}
			case LYNC_LOST:
				rc = xp_builder_set_invalid(b, key,
				                            "type name");
				FZ_CHECK(rc == XP_OK);
				break;
			default:
				FZ_CHECK(!"unknown lync_kind");
			}
		}
		FZ_CHECK(xp_builder_end(b) == XP_OK);
	}
	rc = xp_builder_finish(b, &t);
	FZ_CHECK(rc == XP_OK || rc == XP_ECONFIG);
	FZ_CHECK((rc == XP_OK) == (t != NULL));
	for (i = 0; i < xp_builder_diag_count(b); i++)
		fz_touch_diag(xp_builder_diag(b, i));
	xp_builder_free(b);
	if (t)
		xp_table_unref(t);
	xp_ctx_free(ctx);
	FZ_CHECK(al.live == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	lcsv_file *f = (lcsv_file *)0;
	lync_import *im = NULL;
	size_t i, c;
	int rc;

	/* 1: the CSV layer */
	memset(err, 'X', sizeof(err));
	err[0] = '\0';
	rc = lcsv_parse((const char *)data, size, &f, err, sizeof(err));
	FZ_CHECK(rc == LCSV_OK || rc == LCSV_EFORMAT || rc == LCSV_ENOMEM);
	if (rc == LCSV_OK) {
		FZ_CHECK(f != NULL);
		FZ_CHECK(f->encoding != NULL);
		if (f->type_name)
			(void)strlen(f->type_name);
		touch_row(&f->header);
		FZ_CHECK(f->nrows == 0 || f->rows != NULL);
		for (i = 0; i < f->nrows; i++) {
			FZ_CHECK(f->rows[i].line >= 1);
			touch_row(&f->rows[i]);
		}
		lcsv_free(f);
	} else {
		FZ_CHECK(f == NULL);
		FZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
		if (rc == LCSV_EFORMAT)
			FZ_CHECK(err[0] != '\0');
	}

	/* 2: the Lync mapping, then the core's validator */
	memset(err, 'X', sizeof(err));
	err[0] = '\0';
	rc = lync_import_parse((const char *)data, size, &im, err, sizeof(err));
	FZ_CHECK(rc == LCSV_OK || rc == LCSV_EFORMAT || rc == LCSV_ENOMEM);
	if (rc != LCSV_OK) {
		FZ_CHECK(im == NULL);
		FZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
		if (rc == LCSV_EFORMAT)
			FZ_CHECK(err[0] != '\0');
		return 0;
	}
	FZ_CHECK(im != NULL);
	FZ_CHECK(im->npartners == 0 || im->partners != NULL);
	for (i = 0; i < im->nunknown; i++)
		(void)strlen(im->unknown[i]);
	for (i = 0; i < im->npartners; i++) {
		const lync_partner *p = &im->partners[i];
		if (p->identity)
			(void)strlen(p->identity);
		if (p->problem)
			(void)strlen(p->problem);
		for (c = 0; c < LYNC_COLUMNS; c++) {
			const lync_value *v = &p->values[c];
			size_t k;
			if (v->raw)
				(void)strlen(v->raw);
			if (v->text)
				(void)strlen(v->text);
			if (v->kind == LYNC_LIST)
				for (k = 0; k < v->nitems; k++)
					(void)strlen(v->items[k]);
		}
	}
	feed_builder(im);
	lync_import_free(im);
	return 0;
}
