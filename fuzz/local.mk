# fuzz/local.mk: the libFuzzer targets (fuzz/fuzz_*.c) and their replay.
#
#  - make check builds fuzz/replay_<target>: each target file linked with
#    fuzz/replay.c (a plain main()) and the core, built with the project's
#    compiler and flags (so --enable-sanitizers applies), replaying
#    fuzz/corpus/<target> and fuzz/regressions/<target> as TAP tests.
#    check-valgrind-fuzz runs them under valgrind.
#  - make fuzz (configure --enable-fuzzing) builds the targets with clang
#    -fsanitize=fuzzer,address,undefined through fuzz/build.sh, outside
#    automake (the project builds with gcc), and runs each for
#    FUZZ_SECONDS (default 60) with fuzz/run.sh.  Nothing is written
#    into the source tree; failures are kept under $TMPDIR.
FUZZ_REPLAY_PROGS = fuzz/replay_domain fuzz/replay_builder \
	fuzz/replay_table fuzz/replay_cert
check_PROGRAMS += $(FUZZ_REPLAY_PROGS)
TESTS += $(FUZZ_REPLAY_PROGS)

FUZZ_COMMON = fuzz/replay.c fuzz/fuzz_common.h
fuzz_replay_domain_SOURCES = $(FUZZ_COMMON) fuzz/fuzz_domain.c
fuzz_replay_domain_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_TARGET='"domain"'
fuzz_replay_domain_LDADD = module/core/libxpcore.la
fuzz_replay_builder_SOURCES = $(FUZZ_COMMON) fuzz/fuzz_prog.h fuzz/fuzz_builder.c
fuzz_replay_builder_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_TARGET='"builder"'
fuzz_replay_builder_LDADD = module/core/libxpcore.la
fuzz_replay_table_SOURCES = $(FUZZ_COMMON) fuzz/fuzz_prog.h fuzz/fuzz_table.c
fuzz_replay_table_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_TARGET='"table"'
fuzz_replay_table_LDADD = module/core/libxpcore.la
fuzz_replay_cert_SOURCES = $(FUZZ_COMMON) fuzz/fuzz_cert.c
fuzz_replay_cert_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_TARGET='"cert"'
fuzz_replay_cert_LDADD = module/core/libxpcore.la

# The Lync CSV and sandbox targets need tools/libxptools.la; fuzz/build.sh
# builds them (it compiles tools/lync_csv.c and module/evaluator/sandbox.c itself).
EXTRA_DIST += fuzz/build.sh fuzz/run.sh fuzz/fuzz_lync.c fuzz/fuzz_sandbox.c \
	fuzz/corpus fuzz/regressions

FUZZ_SECONDS = 60
if FUZZING
FUZZ_RUN = FUZZ_CC='$(FUZZ_CC)' FUZZ_TARGETS='$(FUZZ_TARGETS)' $(SHELL) $(top_srcdir)/fuzz/run.sh $(FUZZ_SECONDS)
else
FUZZ_RUN = echo "make fuzz: configure with --enable-fuzzing"; exit 1
endif
# make fuzz FUZZ_SECONDS=300 FUZZ_TARGETS='cert table'
fuzz:
	@$(FUZZ_RUN)
.PHONY: fuzz

check-valgrind-fuzz: $(FUZZ_REPLAY_PROGS)
	@test -n "$(VALGRIND)" || { echo "valgrind not found"; exit 1; }
	@set -e; for t in $(FUZZ_REPLAY_PROGS); do \
	  echo "valgrind $$t"; \
	  top_srcdir='$(abs_top_srcdir)' $(LIBTOOL) --mode=execute $(VALGRIND) -q \
	    --leak-check=full --errors-for-leak-kinds=definite,indirect \
	    --error-exitcode=1 ./$$t > $$t.valgrind.log 2>&1 || \
	    { cat $$t.valgrind.log; exit 1; }; \
	done; echo "valgrind: the fuzz corpora replay clean"
.PHONY: check-valgrind-fuzz
