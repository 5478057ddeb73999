# coredns-fed build, test and lab targets. Everything a fresh machine lacks is
# installed or built here: etcd, dig, named-checkzone and dnsviz (the zone
# checks of the integration tests) from Debian, kube-apiserver from source
# through the Go module proxy (cached in bin/, so later runs skip the build).

GO       ?= go
BIN      := $(CURDIR)/bin
KUBE_VERSION := v1.34.4
APT_PKGS := etcd-server:etcd bind9-dnsutils:dig bind9-utils:named-checkzone dnsviz:dnsviz curl:curl knot:knotd

export PATH := $(BIN):$(PATH)

.PHONY: all build tools apt kube-apiserver vet fmt-check test unit integration demo lab-up lab-down bench scaling member-memory stock-coredns fuzz chaos clean

all: build

build: $(BIN)/coredns-fed $(BIN)/fedlab

$(BIN)/coredns-fed: FORCE
	$(GO) build -o $@ ./cmd/coredns-fed

$(BIN)/fedlab: FORCE
	$(GO) build -o $@ ./cmd/fedlab

FORCE:

# apt installs each Debian package whose command is missing; a package with
# no command (a plugin, such as knot-module-geoip) is listed as pkg:- and
# installed when dpkg does not have it.
apt:
	@missing=""; for p in $(APT_PKGS); do \
		pkg=$${p%%:*}; cmd=$${p##*:}; \
		if [ "$$cmd" = "-" ]; then \
			dpkg-query -W -f='$${Status}' $$pkg 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$pkg"; \
		else \
			command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$pkg"; \
		fi; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

# kube-apiserver is built from a separate, pinned module (tools/kube-apiserver)
# so k8s.io/kubernetes never enters the product's go.mod.
kube-apiserver: $(BIN)/kube-apiserver

$(BIN)/kube-apiserver: tools/kube-apiserver/go.mod
	cd tools/kube-apiserver && $(GO) build -o $@ k8s.io/kubernetes/cmd/kube-apiserver

tools: apt kube-apiserver

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

unit:
	$(GO) test -race ./plugin/... ./cmd/...

# integration starts one lab (etcd, four kube-apiservers, coredns-fed on
# loopback) for the whole test binary; see test/integration/README.md. The
# status page is tested in a headless Chromium.
TEST_APT_PKGS := chromium:chromium unbound:unbound bind9-dnsutils:delv

integration: tools build
	@$(MAKE) --no-print-directory apt APT_PKGS="$(TEST_APT_PKGS)"
	$(GO) test -count=1 -timeout 30m ./test/integration/...

test: fmt-check vet unit integration

# demo runs the seed lab in the foreground until Ctrl-C; lab-up starts it in
# the background and leaves .lab/env for scripts; lab-down stops it.
demo: tools build
	$(BIN)/fedlab demo

lab-up: tools build
	$(BIN)/fedlab up

lab-down: $(BIN)/fedlab
	$(BIN)/fedlab down

# bench measures throughput beside CoreDNS file/whoami and Knot, propagation,
# memory, the query path, growth to 500k shards, and geo answers beside gdnsd
# and Knot's geoip module on this machine, and writes $(BENCH_OUT)/report.md
# and report.json (about 30 minutes; BENCH_SMOKE=1 for a 2-minute check of the
# harness; BENCH_GEO_ONLY=1 for the geo phase alone). Not part of test. See
# docs/benchmarks.md.
BENCH_OUT      ?= bench-results
# The growth phase (10k to 500k synthetic shards) draws its plots into docs/img;
# the smoke run measures two small sizes and keeps its plots in $(BENCH_OUT).
BENCH_APT_PKGS := dnsperf:dnsperf knot:knotd knot-dnsutils:kdig util-linux:taskset gdnsd:gdnsd knot-module-geoip:-

bench: tools build $(BIN)/fedbench
	@$(MAKE) --no-print-directory apt APT_PKGS="$(BENCH_APT_PKGS)"
	$(BIN)/fedbench -out $(BENCH_OUT) -go $(GO) $(if $(BENCH_SMOKE),-smoke,-img docs/img) $(if $(BENCH_GEO_ONLY),-geo-only)

# scaling slaves a Knot secondary to coredns-fed (time from an EndpointSlice
# flip to the secondary's answer, IXFR and AXFR bytes per change) and starts
# 1, 2 and 4 coredns-fed replicas against a lab of two members with 10 000
# Services each (watches, LISTs and watch bytes each costs a member's
# kube-apiserver), and writes $(BENCH_OUT)/scaling.md and scaling.json (about
# 15 minutes, most of it populating; BENCH_SMOKE=1 for a 2-minute check of the
# harness). Not part of test or bench. See docs/scaling.md.
scaling: tools build $(BIN)/fedbench
	@$(MAKE) --no-print-directory apt APT_PKGS="$(BENCH_APT_PKGS)"
	$(BIN)/fedbench scaling -out $(BENCH_OUT) $(if $(BENCH_SMOKE),-smoke)

# member-memory compares the RSS of a member cluster's CoreDNS with
# federation in member mode in front of the kubernetes plugin against a stock
# CoreDNS with the kubernetes plugin alone (and coredns-fed with that same
# Corefile), side by side on one kube-apiserver holding 10 000 Services of
# which 100 are federated, in five rounds; it writes $(BENCH_OUT)/member.md
# and member.json (about 9 minutes, half of it populating; BENCH_SMOKE=1 for a
# 2-minute check of the harness). Not part of test or bench. See
# docs/benchmarks.md.
member-memory: tools build $(BIN)/fedbench $(BIN)/coredns
	$(BIN)/fedbench member -out $(BENCH_OUT) -go $(GO) $(if $(BENCH_SMOKE),-smoke)

# stock-coredns builds bin/coredns: stock CoreDNS, the release go.mod requires, built from its own
# module (its go.mod and go.sum, every plugin of its plugin.cfg): the baseline
# of member-memory.
COREDNS_MODULE := github.com/coredns/coredns

stock-coredns: $(BIN)/coredns

$(BIN)/coredns: go.mod
	$(GO) mod download $(COREDNS_MODULE)
	cd $$($(GO) list -m -f '{{.Dir}}' $(COREDNS_MODULE)) && $(GO) build -o $@ .

$(BIN)/fedbench: FORCE
	$(GO) build -o $@ ./cmd/fedbench

# fuzz runs every native Go fuzz target of the plugins for FUZZTIME each (their
# seed corpora in testdata/fuzz run with every `go test`), keeps each target's
# log in $(FUZZ_OUT)/ and writes $(FUZZ_OUT)/summary.md: executions, new corpus
# entries and the result of each target, the table docs/reliability.md quotes.
# A crash stops the run; its input is in the package's testdata/fuzz. Not part
# of test.
FUZZTIME ?= 10m
FUZZ_OUT ?= fuzz-results
FUZZ_PKGS := ./plugin/federation ./plugin/shardhealth

fuzz:
	@mkdir -p $(FUZZ_OUT); \
	printf '| package | target | time | executions | new inputs | result |\n|---|---|---|---|---|---|\n' > $(FUZZ_OUT)/summary.md; \
	for pkg in $(FUZZ_PKGS); do \
		for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$target ($(FUZZTIME))"; \
			log=$(FUZZ_OUT)/$$target.log; \
			$(GO) test -run XXX -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) $$pkg > $$log 2>&1; \
			rc=$$?; tail -4 $$log; \
			last=$$(grep -o 'elapsed: [^,]*, execs: [0-9]*' $$log | tail -1); \
			execs=$${last##*execs: }; \
			new=$$(grep -o 'new interesting: [0-9]*' $$log | tail -1); \
			result=ok; [ $$rc -eq 0 ] || result="**failed** (see $$log)"; \
			echo "| $$pkg | $$target | $(FUZZTIME) | $$execs | $${new##*: } | $$result |" >> $(FUZZ_OUT)/summary.md; \
			[ $$rc -eq 0 ] || exit 1; \
		done; \
	done; \
	cat $(FUZZ_OUT)/summary.md

# chaos runs the reliability scenarios (churn, a kube-apiserver killed, etcd
# restarted and a watch expiry, coredns-fed reloaded and restarted, hostile
# API servers, amplification, flapping backends) against a lab under a
# checked query load, and writes $(CHAOS_OUT)/report.md and report.json and
# docs/reliability.md (about 17 minutes, 10 of them flapping; CHAOS_SHORT=1
# for a 4-minute check of the harness, which leaves docs/ alone). Not part of
# test. See docs/reliability.md.
CHAOS_OUT ?= chaos-results

chaos: tools build $(BIN)/fedchaos
	$(BIN)/fedchaos -out $(CHAOS_OUT) $(if $(CHAOS_SHORT),-short,-doc docs/reliability.md)

$(BIN)/fedchaos: FORCE
	$(GO) build -o $@ ./cmd/fedchaos

clean:
	rm -rf $(BIN)
