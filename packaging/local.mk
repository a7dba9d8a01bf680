# packaging/local.mk: the Debian packaging and its scripts (packaging/debian
# becomes debian/ of a clean copy: see packaging/build-deb.sh).
PACKAGING_FILES = \
	packaging/README.md \
	packaging/build-deb.sh \
	packaging/smoke-test.sh \
	packaging/debian/changelog \
	packaging/debian/control \
	packaging/debian/copyright \
	packaging/debian/rules \
	packaging/debian/source/format \
	packaging/debian/xmpp-partners-prosody.install \
	packaging/debian/xmpp-partners-prosody.docs \
	packaging/debian/xmpp-partners-prosody.examples \
	packaging/debian/xmpp-partners-prosody.README.Debian \
	packaging/debian/xmpp-partners-prosody.lintian-overrides \
	packaging/debian/xmpp-partners-ejabberd.install \
	packaging/debian/xmpp-partners-ejabberd.docs \
	packaging/debian/xmpp-partners-ejabberd.examples \
	packaging/debian/xmpp-partners-ejabberd.README.Debian \
	packaging/debian/xmpp-partners-ejabberd.lintian-overrides \
	packaging/debian/examples/xmpp_partners.cfg.lua \
	packaging/debian/examples/mod_xmpp_partners.yml
EXTRA_DIST += $(PACKAGING_FILES)

# debian/rules asks for the test list, to leave out the tests named in
# XP_DEB_SKIP_TESTS.
xp-print-tests:
	@echo $(TESTS)
.PHONY: xp-print-tests
