# nook: build, install, test and demo entry points.
#
#   make build     release build (target/release/nook)
#   make install   install the binary (and man pages, if any) under PREFIX
#   make deps      install the Debian packages the tests need (as root)
#   make demo      run one busybox container and clean up
#   make test      fmt, clippy and the whole test suite (as root)
#   make bench     time `run` of nook against runc and crun
#   make conformance  the OCI runtime-spec conformance suite against nook (as root)
#   make callers   nook under real Podman and containerd (as root; tests/callers/)
#   make vm-test   cgroup v2, hybrid and systemd-driver tests in QEMU guests (as root; tests/vm/)
#   make man       regenerate man/ from the CLI definition
#   make clean     remove build output

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

PREFIX ?= /usr/local
DESTDIR ?=
CARGO ?= cargo
BINDIR := $(DESTDIR)$(PREFIX)/bin
MANDIR := $(DESTDIR)$(PREFIX)/share/man
NOOK := target/release/nook
TEST_THREADS ?= 2

# busybox-static: container rootfs for tests and demo; runc, crun: reference
# runtimes; jq: bundle script; python3-jsonschema: the features schema test;
# podman, conmon, containerd: the callers suites (tests/callers); gcc,
# libc6-dev: the static probe of tests/seccomp.rs; the rest: debugging and
# benchmarks.
DEB_DEPS := busybox-static runc crun iproute2 strace jq hyperfine qemu-system-x86 xz-utils python3-jsonschema \
	podman conmon containerd gcc libc6-dev

.PHONY: all build install deps demo test bench clean man

all: build

build:
	$(CARGO) build --release

install: build
	install -D -m 0755 $(NOOK) $(BINDIR)/nook
	@shopt -s nullglob; pages=(man/*.[1-8]); \
	for page in "$${pages[@]}"; do \
		section=$${page##*.}; \
		install -D -m 0644 "$$page" "$(MANDIR)/man$$section/$${page##*/}"; \
	done

# Fast when everything is there: dpkg -s only, no apt-get update.
deps:
	@missing=""; \
	for pkg in $(DEB_DEPS); do \
		dpkg -s "$$pkg" >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	if [ -z "$$missing" ]; then echo "deps: all installed"; exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then echo "deps: run as root to install:$$missing" >&2; exit 1; fi; \
	echo "deps: installing$$missing"; \
	apt-get update; \
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing

demo: build
	@work=$$(mktemp -d); \
	id=nook-demo-$$$$; \
	trap '$(NOOK) --root "$$work/state" delete --force "$$id" >/dev/null 2>&1 || true; rm -rf "$$work"' EXIT; \
	scripts/mkbundle.sh -r $(NOOK) -H nook-demo "$$work/bundle" \
		sh -c 'echo "Hello from a nook container! My hostname is $$(hostname)."'; \
	$(NOOK) --root "$$work/state" run --bundle "$$work/bundle" "$$id"

# The integration tests need root; each skipped case prints a SKIP: line,
# and the count of those is shown at the end so none is missed.
test: deps
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
	mkdir -p target
	$(CARGO) test --release --no-fail-fast -- --test-threads=$(TEST_THREADS) 2>&1 | tee target/test.log
	conformance/run.sh --runtime $(NOOK) 2>&1 | tee -a target/test.log
	tests/callers/podman.sh --runtime $(NOOK) 2>&1 | tee -a target/test.log
	tests/callers/containerd.sh --runtime $(NOOK) 2>&1 | tee -a target/test.log
	tests/vm/run.sh --timeout 600 -- tests/vm/smoke.sh 2>&1 | tee -a target/test.log
	NOOK_VM_LAYOUT=hybrid tests/vm/run.sh --timeout 600 -- tests/vm/hybrid.sh 2>&1 | tee -a target/test.log
	NOOK_VM_LAYOUT=systemd tests/vm/run.sh --timeout 600 -- tests/vm/systemd.sh 2>&1 | tee -a target/test.log
	NOOK_VM_LAYOUT=systemd-hybrid tests/vm/run.sh --timeout 600 -- tests/vm/systemd-hybrid.sh 2>&1 | tee -a target/test.log
	tests/vm/run.sh --timeout 900 -- tests/vm/callers.sh 2>&1 | tee -a target/test.log
	NOOK_VM_LAYOUT=systemd tests/vm/run.sh --timeout 900 -- tests/vm/callers.sh 2>&1 | tee -a target/test.log
	@skips=$$(grep -c '^SKIP' target/test.log || true); \
	echo "skipped cases: $$skips"; \
	grep '^SKIP' target/test.log | sort | uniq -c || true

# man/ is generated from the CLI definition; a unit test fails when it is stale.
man:
	NOOK_UPDATE_MAN=1 $(CARGO) test --bin nook man_pages

bench: build
	scripts/bench.sh 20

clean:
	$(CARGO) clean

# Runtime-spec conformance cases (conformance/cases); see conformance/README.md.
# `conformance/run.sh --validate` checks the cases against runc and crun.
.PHONY: conformance
conformance:
	$(CARGO) build --release
	conformance/run.sh --runtime $(NOOK)

# nook under real Podman (with conmon) and containerd (runc v2 shim); see
# tests/callers/lib.sh. `--runtime runc` runs the same cases on runc.
.PHONY: callers
callers:
	$(CARGO) build --release
	tests/callers/podman.sh --runtime $(NOOK)
	tests/callers/containerd.sh --runtime $(NOOK)

# nook on pure cgroup v2, in a throw-away QEMU guest (see tests/vm/README.md):
# needs qemu-system-x86; the first run downloads a Debian kernel package into
# target/vm-cache/.
.PHONY: vm-test
vm-test:
	$(CARGO) build --release
	tests/vm/run.sh --timeout 600 -- tests/vm/smoke.sh
	NOOK_VM_LAYOUT=hybrid tests/vm/run.sh --timeout 600 -- tests/vm/hybrid.sh
	NOOK_VM_LAYOUT=systemd tests/vm/run.sh --timeout 600 -- tests/vm/systemd.sh
	NOOK_VM_LAYOUT=systemd-hybrid tests/vm/run.sh --timeout 600 -- tests/vm/systemd-hybrid.sh
	tests/vm/run.sh --timeout 900 -- tests/vm/callers.sh
	NOOK_VM_LAYOUT=systemd tests/vm/run.sh --timeout 900 -- tests/vm/callers.sh
