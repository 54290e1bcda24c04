# packaging: `make install` / `make uninstall` (PREFIX, DESTDIR, and the directories below may
# be overridden) and `make deb`.
#
# Layout (PREFIX=/usr/local by default):
#   $(BINDIR)/lsmfs, $(BINDIR)/lsmfs-ctl
#   $(SBINDIR)/mount.lsmfs, $(SBINDIR)/mount.fuse.lsmfs -> mount.lsmfs
#       mount(8) looks for helpers only in /sbin (= /usr/sbin on Debian 12): the .deb
#       (PREFIX=/usr) puts them there; with another PREFIX, link them into /sbin for fstab use.
#   $(MANDIR)/man8/lsmfs.8 mount.lsmfs.8 lsmfs-ctl.8 (+ mount.fuse.lsmfs.8, a .so link)
#   $(LIBDIR)/liblsm.a liblsm.so.0.1.0 liblsm.so.0 -> liblsm.so.0.1.0 liblsm.so -> liblsm.so.0
#   $(INCLUDEDIR)/lsm.h, $(PKGCONFIGDIR)/liblsm.pc (from packaging/liblsm.pc.in)
#
# `make deb` stages `make install DESTDIR=... PREFIX=/usr` and builds build/lsmfs_VERSION_ARCH.deb
# with dpkg-deb (no debhelper needed) from the control files in packaging/debian/; it runs
# lintian when it is installed.

BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
LSMFS_VERSION := $(shell sed -n 's/^\#define LSM_VERSION_STRING "\(.*\)"/\1/p' lsm/include/lsm.h)
MAN_PAGES := $(wildcard packaging/man/*.8)
INSTALL ?= install

.PHONY: install uninstall deb

install: all
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBDIR) \
	  $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(MANDIR)/man8
	$(INSTALL) -m 0755 $(BUILD)/lsmfs $(BUILD)/lsmfs-ctl $(DESTDIR)$(BINDIR)/
	$(INSTALL) -m 0755 $(BUILD)/mount.lsmfs $(DESTDIR)$(SBINDIR)/mount.lsmfs
	ln -sf mount.lsmfs $(DESTDIR)$(SBINDIR)/mount.fuse.lsmfs
	$(INSTALL) -m 0644 $(LSM_A) $(DESTDIR)$(LIBDIR)/liblsm.a
	$(INSTALL) -m 0644 $(LSM_SO) $(DESTDIR)$(LIBDIR)/liblsm.so.0.1.0
	ln -sf liblsm.so.0.1.0 $(DESTDIR)$(LIBDIR)/liblsm.so.0
	ln -sf liblsm.so.0 $(DESTDIR)$(LIBDIR)/liblsm.so
	$(INSTALL) -m 0644 lsm/include/lsm.h $(DESTDIR)$(INCLUDEDIR)/lsm.h
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	  -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(LSMFS_VERSION)|g' \
	  packaging/liblsm.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/liblsm.pc
	chmod 0644 $(DESTDIR)$(PKGCONFIGDIR)/liblsm.pc
	$(INSTALL) -m 0644 $(MAN_PAGES) $(DESTDIR)$(MANDIR)/man8/
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then ldconfig || true; fi
	@case "$(SBINDIR)" in /sbin|/usr/sbin) ;; *) \
	  echo "note: mount(8) looks for mount.lsmfs in /sbin only; for fstab/mount -t lsmfs run:"; \
	  echo "  ln -s $(SBINDIR)/mount.lsmfs /sbin/mount.lsmfs; ln -s $(SBINDIR)/mount.lsmfs /sbin/mount.fuse.lsmfs";; esac

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/lsmfs $(DESTDIR)$(BINDIR)/lsmfs-ctl
	rm -f $(DESTDIR)$(SBINDIR)/mount.lsmfs $(DESTDIR)$(SBINDIR)/mount.fuse.lsmfs
	rm -f $(DESTDIR)$(LIBDIR)/liblsm.a $(DESTDIR)$(LIBDIR)/liblsm.so.0.1.0 \
	  $(DESTDIR)$(LIBDIR)/liblsm.so.0 $(DESTDIR)$(LIBDIR)/liblsm.so
	rm -f $(DESTDIR)$(INCLUDEDIR)/lsm.h $(DESTDIR)$(PKGCONFIGDIR)/liblsm.pc
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man8/,$(notdir $(MAN_PAGES)))
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then ldconfig || true; fi

DEB_ARCH := $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
DEB_STAGE := $(BUILD)/deb/lsmfs
DEB_FILE := $(BUILD)/lsmfs_$(LSMFS_VERSION)_$(DEB_ARCH).deb

deb: all
	@test -z "$(SAN)" || { echo "make deb: build packages without SAN"; exit 1; }
	rm -rf $(BUILD)/deb && mkdir -p $(DEB_STAGE)
	$(MAKE) --no-print-directory install DESTDIR=$(abspath $(DEB_STAGE)) PREFIX=/usr \
	  LIBDIR=/usr/lib/$(shell dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
	strip --strip-unneeded --remove-section=.comment --remove-section=.note \
	  $(DEB_STAGE)/usr/bin/lsmfs $(DEB_STAGE)/usr/bin/lsmfs-ctl $(DEB_STAGE)/usr/lib/*/liblsm.so.0.1.0
	strip --strip-debug --remove-section=.comment $(DEB_STAGE)/usr/lib/*/liblsm.a
	gzip -9n $(DEB_STAGE)/usr/share/man/man8/*.8
	install -d $(DEB_STAGE)/usr/share/doc/lsmfs $(DEB_STAGE)/DEBIAN
	install -m 0644 packaging/debian/copyright $(DEB_STAGE)/usr/share/doc/lsmfs/copyright
	gzip -9n < packaging/debian/changelog > $(DEB_STAGE)/usr/share/doc/lsmfs/changelog.gz
	chmod 0644 $(DEB_STAGE)/usr/share/doc/lsmfs/changelog.gz
	install -d $(DEB_STAGE)/usr/share/lintian/overrides
	install -m 0644 packaging/debian/lintian-overrides $(DEB_STAGE)/usr/share/lintian/overrides/lsmfs
	install -m 0644 packaging/debian/triggers $(DEB_STAGE)/DEBIAN/triggers
	install -m 0644 packaging/debian/shlibs $(DEB_STAGE)/DEBIAN/shlibs
	sed -e 's/@VERSION@/$(LSMFS_VERSION)/' -e 's/@ARCH@/$(DEB_ARCH)/' \
	  -e "s/@SIZE@/$$(du -sk --exclude=DEBIAN $(DEB_STAGE) | cut -f1)/" \
	  packaging/debian/control > $(DEB_STAGE)/DEBIAN/control
	cd $(DEB_STAGE) && find usr -type f -exec md5sum {} + | sort -k2 > DEBIAN/md5sums
	chmod 0644 $(DEB_STAGE)/DEBIAN/md5sums
	dpkg-deb --root-owner-group -Zxz --build $(DEB_STAGE) $(DEB_FILE)
	@if command -v lintian >/dev/null; then lintian --tag-display-limit 0 $(DEB_FILE) || true; \
	  else echo "lintian not installed: skipped"; fi
	@echo "built $(DEB_FILE)"
