# ejabberd/local.mk: the ejabberd side, built when configure found Erlang
# (HAVE_ERLANG_NIF: erl, erlc, erl_nif.h) and ejabberd's headers
# (HAVE_EJABBERD).  Everything installs as one Erlang application directory,
# $(ERLANG_APPDIR) = LIBDIR/erlang/lib/xmpp_partners-VERSION by default:
#   ebin/      xmpp_partners_nif.beam, mod_xmpp_partners.beam,
#              xmpp_partners_pending.beam, xmpp_partners_backoff.beam,
#              xmpp_partners_webadmin.beam, xmpp_partners_sessions.beam,
#              xmpp_partners_runtime.beam, xmpp_partners_adhoc.beam,
#              xmpp_partners_export.beam,
#              xmpp_partners_s2s_out.beam, xmpp_partners_s2s_in.beam,
#              xmpp_partners_table.beam, xmpp_partners_store.beam,
#              xmpp_partners_s2s.beam, xmpp_partners_refusals.beam,
#              xmpp_partners_contact.beam, xmpp_partners_commands.beam,
#              xmpp_partners_changes.beam, xmpp_partners_monitoring.beam,
#              xmpp_partners_ets.beam
#              (mod_xmpp_partners.beam is the gen_mod; the others are its
#              concerns, listed at the top of mod_xmpp_partners.erl)
#   priv/lib/  xmpp_partners_nif.so (the NIF over module/core/libxpcore.la)
# With --prefix=/usr that is /usr/lib/erlang/lib/xmpp_partners-VERSION, which
# every Erlang node on Debian (ejabberd's included) has on its code path.
# Run only these tests:  make check-ejabberd
# tests/ejabberd/ejlib.sh is the ejabberd node launcher these tests and
# tests/ejabberd/cross.mk's t_cross.sh source.
EJABBERD_SRCS = \
	ejabberd/src/xmpp_partners_nif.erl \
	ejabberd/src/mod_xmpp_partners.erl \
	ejabberd/src/xmpp_partners_s2s_out.erl \
	ejabberd/src/xmpp_partners_s2s_in.erl \
	ejabberd/src/xmpp_partners_pending.erl \
	ejabberd/src/xmpp_partners_backoff.erl \
	ejabberd/src/xmpp_partners_webadmin.erl \
	ejabberd/src/xmpp_partners_sessions.erl \
	ejabberd/src/xmpp_partners_runtime.erl \
	ejabberd/src/xmpp_partners_adhoc.erl \
	ejabberd/src/xmpp_partners_export.erl \
	ejabberd/src/xmpp_partners_table.erl \
	ejabberd/src/xmpp_partners_store.erl \
	ejabberd/src/xmpp_partners_s2s.erl \
	ejabberd/src/xmpp_partners_refusals.erl \
	ejabberd/src/xmpp_partners_contact.erl \
	ejabberd/src/xmpp_partners_commands.erl \
	ejabberd/src/xmpp_partners_changes.erl \
	ejabberd/src/xmpp_partners_monitoring.erl \
	ejabberd/src/xmpp_partners_ets.erl
EJABBERD_TESTS = \
	tests/ejabberd/t_nif.sh \
	tests/ejabberd/t_ejabberd.sh \
	tests/ejabberd/t_ejabberd_admin.sh \
	tests/ejabberd/t_ejabberd_preexisting.sh \
	tests/ejabberd/t_hostile_ejabberd.sh \
	tests/ejabberd/t_backoff_ejabberd.sh \
	tests/ejabberd/t_webadmin_ejabberd.sh \
	tests/ejabberd/t_cluster_ejabberd.sh \
	tests/ejabberd/t_parity_ejabberd.sh \
	tests/ejabberd/t_adhoc_ejabberd.sh \
	tests/ejabberd/t_stream_callbacks.sh
EXTRA_DIST += $(EJABBERD_SRCS) $(EJABBERD_TESTS) \
	ejabberd/src/xmpp_partners_sessions.hrl \
	ejabberd/README-ejabberd.md tests/ejabberd/nif_test.erl \
	tests/ejabberd/ejlib.sh \
	module/erlang/xmpp_partners_nif.c
TESTS += $(EJABBERD_TESTS)

if HAVE_ERLANG_NIF
erlnifdir = $(ERLANG_APPDIR)/priv/lib
erlnif_LTLIBRARIES = module/erlang/xmpp_partners_nif.la
erlbeamdir = $(ERLANG_APPDIR)/ebin
erlbeam_DATA = ejabberd/ebin/xmpp_partners_nif.beam
if HAVE_EJABBERD
erlbeam_DATA += ejabberd/ebin/mod_xmpp_partners.beam \
	ejabberd/ebin/xmpp_partners_s2s_out.beam \
	ejabberd/ebin/xmpp_partners_s2s_in.beam \
	ejabberd/ebin/xmpp_partners_pending.beam \
	ejabberd/ebin/xmpp_partners_backoff.beam \
	ejabberd/ebin/xmpp_partners_webadmin.beam \
	ejabberd/ebin/xmpp_partners_sessions.beam \
	ejabberd/ebin/xmpp_partners_runtime.beam \
	ejabberd/ebin/xmpp_partners_adhoc.beam \
	ejabberd/ebin/xmpp_partners_export.beam \
	ejabberd/ebin/xmpp_partners_table.beam \
	ejabberd/ebin/xmpp_partners_store.beam \
	ejabberd/ebin/xmpp_partners_s2s.beam \
	ejabberd/ebin/xmpp_partners_refusals.beam \
	ejabberd/ebin/xmpp_partners_contact.beam \
	ejabberd/ebin/xmpp_partners_commands.beam \
	ejabberd/ebin/xmpp_partners_changes.beam \
	ejabberd/ebin/xmpp_partners_monitoring.beam \
	ejabberd/ebin/xmpp_partners_ets.beam
endif
CLEANFILES += $(erlbeam_DATA) tests/ejabberd/nif_test.beam
endif
module_erlang_xmpp_partners_nif_la_SOURCES = module/erlang/xmpp_partners_nif.c
module_erlang_xmpp_partners_nif_la_CFLAGS = $(AM_CFLAGS) $(ERL_NIF_CFLAGS) \
	$(EVAL_CPPFLAGS)
# The runtime provides the enif_* functions; only nif_init is exported.
module_erlang_xmpp_partners_nif_la_LDFLAGS = $(AM_LDFLAGS) -module -avoid-version \
	-shared -rpath '$(erlnifdir)' -export-symbols-regex '^nif_init$$'
# The evaluator reads partners_file; its sandbox needs liblua, which is
# fine here: the NIF runs inside Erlang, not inside a Lua host.
module_erlang_xmpp_partners_nif_la_LIBADD = module/evaluator/libxpeval.la module/core/libxpcore.la \
	$(LUA_LIB_LIBS) -lm

# -I for include("xmpp.hrl") and include("logger.hrl"): Debian names the
# xmpp application p1_xmpp-*, so include_lib("xmpp/...") does not resolve.
ERLCFLAGS = +debug_info -Werror -I '$(XMPP_INCLUDE)' -I '$(EJABBERD_INCLUDE)' \
	-pa '$(EJABBERD_EBIN)' -pa ejabberd/ebin
ejabberd/ebin/%.beam: $(srcdir)/ejabberd/src/%.erl
	@$(MKDIR_P) ejabberd/ebin
	$(AM_V_GEN)$(ERLC) $(ERLCFLAGS) -o ejabberd/ebin $<
# behaviours and the NIF wrapper first
ejabberd/ebin/mod_xmpp_partners.beam: ejabberd/ebin/xmpp_partners_nif.beam
ejabberd/ebin/xmpp_partners_sessions.beam ejabberd/ebin/xmpp_partners_s2s.beam \
ejabberd/ebin/xmpp_partners_commands.beam \
ejabberd/ebin/xmpp_partners_monitoring.beam: \
	$(srcdir)/ejabberd/src/xmpp_partners_sessions.hrl

# The tests load the uninstalled NIF and beams of this build tree; the
# node tests drive xpclient, and t_hostile_ejabberd also xphostile
# (tests/hostile/local.mk), all in check_PROGRAMS.
tests/ejabberd/t_nif.log tests/ejabberd/t_ejabberd.log \
tests/ejabberd/t_ejabberd_admin.log \
tests/ejabberd/t_hostile_ejabberd.log \
tests/ejabberd/t_backoff_ejabberd.log \
tests/ejabberd/t_webadmin_ejabberd.log \
tests/ejabberd/t_cluster_ejabberd.log \
tests/ejabberd/t_parity_ejabberd.log \
tests/ejabberd/t_adhoc_ejabberd.log: $(erlnif_LTLIBRARIES) $(erlbeam_DATA)
tests/ejabberd/t_ejabberd.log tests/ejabberd/t_ejabberd_admin.log \
tests/ejabberd/t_hostile_ejabberd.log \
tests/ejabberd/t_backoff_ejabberd.log \
tests/ejabberd/t_webadmin_ejabberd.log \
tests/ejabberd/t_cluster_ejabberd.log \
tests/ejabberd/t_parity_ejabberd.log \
tests/ejabberd/t_adhoc_ejabberd.log: $(check_PROGRAMS)
tests/ejabberd/t_stream_callbacks.log: $(erlnif_LTLIBRARIES) $(erlbeam_DATA) $(check_PROGRAMS)

check-ejabberd:
	$(MAKE) $(AM_MAKEFLAGS) check TESTS='$(EJABBERD_TESTS)'
.PHONY: check-ejabberd

clean-local: clean-local-ejabberd
clean-local-ejabberd:
	-rm -rf ejabberd/ebin
.PHONY: clean-local-ejabberd
