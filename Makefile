# vprolab: build, run the reference labs, test.
#
# The labs run with --sandbox: inside a new, empty network namespace and a private mount
# namespace, so nothing they do can reach this machine's network. As root that takes
# nothing more; as another user, the sandbox is an unprivileged user namespace, where
# the kernel allows them.
#
# LAB_ARGS adds options to the lab targets: make lab-single LAB_ARGS="--capture cap"

CARGO ?= cargo
VPROLAB ?= target/release/vprolab
LAB_ARGS ?=
# Runs a command in a fresh network namespace with only loopback, and a private mount
# namespace, so that tests cannot reach or change this machine's network.
SANDBOX := unshare --net --mount --propagation private -- sh -c 'ip link set lo up && exec "$$0" "$$@"'

.PHONY: build lab-single lab-wildcard scenarios test test-peers interop-meshcentral bench down

build:
	$(CARGO) build --release --locked

lab-single: build
	$(VPROLAB) run --sandbox $(LAB_ARGS) topologies/single.yaml

lab-wildcard: build
	$(VPROLAB) run --sandbox $(LAB_ARGS) topologies/wildcard.yaml

# Runs every scenario of topologies/scenarios, each in its own sandbox, and prints a
# table of expected and actual outcomes; fails when a client ends otherwise.
scenarios: build
	$(VPROLAB) scenarios topologies/scenarios

# Installs missing Debian packages (as root), builds with network access for crates, then
# runs every test offline inside the sandbox; tests that build labs also start each lab
# in its own sandbox.
test:
	tools/packages test
	$(CARGO) test --workspace --locked --no-run
	$(SANDBOX) $(CARGO) test --workspace --locked --offline

# The tests against real peers from Debian (dig, udhcpc, dhclient, dhcrelay, dnsmasq,
# kea-dhcp4, openssl), which `.ci/run` installs. Each builds its own lab in a sandbox and
# runs the peers inside the lab's namespaces. They are ignored by `make test`, and a peer
# missing from PATH fails its test with the Debian package to install.
PEER_TESTS := --test peer_dns --test peer_dhcp --test peer_tls --test peer_examples

test-peers:
	tools/packages peers
	$(CARGO) test --locked $(PEER_TESTS) --no-run
	$(SANDBOX) $(CARGO) test --locked --offline $(PEER_TESTS) -- --ignored

# MeshCentral, a setup server nobody here wrote, activates the emulated ME in ACM in the
# lab of topologies/examples/meshcentral.yaml. The pinned MeshCentral release is installed
# from npm once into a cache folder under target/ (needs Node.js 18 or later and npm),
# then the test runs offline in the sandbox and prints MeshCentral's log as evidence.
MESHCENTRAL_VERSION := 1.1.55
MESHCENTRAL_DIR := $(CURDIR)/target/interop/meshcentral-$(MESHCENTRAL_VERSION)

interop-meshcentral:
	tools/packages interop
	test -f $(MESHCENTRAL_DIR)/node_modules/meshcentral/meshcentral.js || { mkdir -p $(MESHCENTRAL_DIR) && cd $(MESHCENTRAL_DIR) && npm install --no-audit --no-fund --ignore-scripts --omit=optional meshcentral@$(MESHCENTRAL_VERSION); }
	$(CARGO) test --locked --test interop_meshcentral --no-run
	MESHCENTRAL_DIR=$(MESHCENTRAL_DIR) $(SANDBOX) $(CARGO) test --locked --offline --test interop_meshcentral -- --ignored --nocapture

# Measures vprolab beside ip -batch, NSD, dnsmasq and kea-dhcp4 and prints one table
# (docs/benchmarks.md). The bench enters a sandbox of its own, so every lab, server and
# load generator runs in namespaces it made; it needs root. BENCH_QUICK=1 runs a
# reduced set in about a minute, BENCH_ONLY=dns,dhcp only the named sections.
bench: build
	tools/packages bench
	target/release/vprolab-bench

# Removes the reference labs when they were started with `vprolab up` outside the
# sandbox; labs run by the targets above live in their sandbox and vanish with it.
down:
	-$(VPROLAB) down single
	-$(VPROLAB) down wildcard
