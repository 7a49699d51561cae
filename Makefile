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

.PHONY: build lab-single lab-wildcard test down

build:
	$(CARGO) build --release --locked

lab-single: build
	$(VPROLAB) run --sandbox $(LAB_ARGS) topologies/single.yaml

lab-wildcard: build
	$(VPROLAB) run --sandbox $(LAB_ARGS) topologies/wildcard.yaml

# Builds first, with network access for crates, then runs every test offline inside the
# sandbox; tests that build labs also start each lab in its own sandbox.
test:
	$(CARGO) test --workspace --locked --no-run
	$(SANDBOX) $(CARGO) test --workspace --locked --offline

down:
	-$(VPROLAB) down single
	-$(VPROLAB) down wildcard
