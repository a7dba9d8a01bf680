/*
 * replay.c: a main() for the fuzz targets without libFuzzer, so a gcc or
 * valgrind build can replay the corpora and regression inputs:
 *
 *   fuzz/build.sh with FUZZ_REPLAY=1, then
 *   valgrind --error-exitcode=1 --leak-check=full OUT/domain-replay \
 *       fuzz/corpus/domain fuzz/regressions/domain
 *
 * Each argument is a file or a directory (its regular files, not
 * recursive).  Without arguments, built with -DFUZZ_TARGET=\"domain\",
 * it replays $top_srcdir/fuzz/corpus/domain and fuzz/regressions/domain
 * (top_srcdir from the environment, as make check sets it, else ".").
 * Prints TAP, one line per input, so it can be an automake TESTS program;
 * a failing check aborts (as under libFuzzer) and the harness reports the
 * missing lines.  Exits non-zero if an argument cannot be read.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t done;

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (f == NULL) {
		perror(path);
		return 1;
	}
	for (;;) {
		if (len == cap) {
			unsigned char *nb;
			cap = cap ? 2 * cap : 4096;
			nb = realloc(buf, cap);
			if (nb == NULL) {
				fclose(f);
				free(buf);
				return 1;
			}
			buf = nb;
		}
		n = fread(buf + len, 1, cap - len, f);
		if (n == 0)
			break;
		len += n;
	}
	fclose(f);
	{
		/* an exact-size copy, as libFuzzer gives */
		unsigned char *exact = malloc(len ? len : 1);
		if (exact == NULL) {
			free(buf);
			return 1;
		}
		memcpy(exact, buf, len);
		free(buf);
		fprintf(stderr, "replay %s (%zu bytes)\n", path, len);
		LLVMFuzzerTestOneInput(exact, len);
		free(exact);
		printf("ok %zu - %s\n", ++done, path);
		fflush(stdout);
	}
	return 0;
}

static size_t count_files(int argc, char **argv)
{
	size_t n = 0;
	int i;
	for (i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			DIR *d = opendir(argv[i]);
			struct dirent *e;
			if (d == NULL)
				continue;
			while ((e = readdir(d)) != NULL) {
				char path[4096];
				struct stat fs;
				snprintf(path, sizeof(path), "%s/%s", argv[i],
				         e->d_name);
				if (stat(path, &fs) == 0 && S_ISREG(fs.st_mode))
					n++;
			}
			closedir(d);
		} else {
			n++;
		}
	}
	return n;
}

int main(int argc, char **argv)
{
	int i, bad = 0;
	size_t count = 0;
#ifdef FUZZ_TARGET
	char corpus[4096], regressions[4096];
	char *defaults[3];

	if (argc == 1) {
		const char *top = getenv("top_srcdir");
		struct stat st;
		if (top == NULL || top[0] == '\0')
			top = ".";
		snprintf(corpus, sizeof(corpus), "%s/fuzz/corpus/%s", top,
		         FUZZ_TARGET);
		snprintf(regressions, sizeof(regressions),
		         "%s/fuzz/regressions/%s", top, FUZZ_TARGET);
		defaults[0] = argv[0];
		defaults[1] = corpus;
		defaults[2] = regressions;
		argv = defaults;
		argc = stat(regressions, &st) == 0 ? 3 : 2;
	}
#endif
	printf("1..%zu\n", count_files(argc, argv));
	fflush(stdout);
	for (i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) != 0) {
			perror(argv[i]);
			bad = 1;
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			DIR *d = opendir(argv[i]);
			struct dirent *e;
			if (d == NULL) {
				perror(argv[i]);
				bad = 1;
				continue;
			}
			while ((e = readdir(d)) != NULL) {
				char path[4096];
				struct stat fs;
				snprintf(path, sizeof(path), "%s/%s", argv[i],
				         e->d_name);
				if (stat(path, &fs) == 0 &&
				    S_ISREG(fs.st_mode)) {
					bad |= run_file(path);
					count++;
				}
			}
			closedir(d);
		} else {
			bad |= run_file(argv[i]);
			count++;
		}
	}
	fprintf(stderr, "replayed %zu inputs\n", count);
	return bad;
}
