# layerns: build, test, demo and benchmark entry points.
# Java 25 (Temurin) is the build JDK; Maven 3.8 runs on it too.
# The machine's default java may be older, so JAVA_HOME is set here, not inherited.
JAVA_HOME := $(or $(LAYERNS_JAVA_HOME),$(firstword $(wildcard /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/temurin-25-jdk*)))
ifeq ($(JAVA_HOME),)
$(error No JDK 25 found: install Temurin 25 or set LAYERNS_JAVA_HOME)
endif
export JAVA_HOME
export PATH := $(JAVA_HOME)/bin:$(PATH)

# Go-built binaries (etcd, kube-apiserver, kube-controller-manager, kubectl,
# csi-sanity) are cached here and reused while present.
LAYERNS_CACHE ?= $(CURDIR)/.cache
export LAYERNS_CACHE

MVN ?= mvn -B -ntp -Dlayerns.cache=$(LAYERNS_CACHE)

.PHONY: all build test crds deps controlplane image fmt demo bench chaos clean

all: build

## deps: install the machine packages the tests need (as root, Debian).
deps:
	hack/install-deps.sh

## controlplane: build the test cluster (etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
## kubectl, kubelet, kube-proxy, containerd, ctr, csi-sanity) into $(LAYERNS_CACHE)/bin.
controlplane:
	hack/build-controlplane.sh

## build: compile, format and package every module (no tests).
build:
	$(MVN) -DskipTests -DskipITs install

## image: the layerns:0.1.0 image (OCI layout and docker-archive in target/image/) and the test
## cluster's pause and busybox images, with no registry and no container engine (root).
## Builds the jars first when this checkout has none; the OS and Java layer is cached in $(LAYERNS_CACHE).
image: deps
	@ls operator/target/layerns-operator-*.jar csi-driver/target/layerns-csi-driver-*.jar >/dev/null 2>&1 \
	  || $(MAKE) build
	MVN="$(MVN)" hack/build-image.sh
	hack/build-test-images.sh

## crds: regenerate the CRDs from the Java types into crds/.
crds:
	$(MVN) -pl api -am test -Dtest=CrdDriftTest -Dsurefire.failIfNoSpecifiedTests=false -Dlayerns.crds.write=true

## test: every test, unit (*Test) and integration (*IT), on a real control plane and, for the
## end-to-end tests, a real cluster running the image this checkout builds (so: jars, image, tests).
test: deps controlplane
	mkdir -p target && touch target/test-started
	$(MVN) -DskipTests -DskipITs install
	MVN="$(MVN)" hack/build-image.sh
	hack/build-test-images.sh
	$(MVN) install
	hack/check-no-skips.sh

## chaos: the chaos test alone, with a random seed (CHAOS_SEED=N replays one) and CHAOS_STEPS steps.
CHAOS_SEED ?= random
CHAOS_STEPS ?= 120
chaos: deps controlplane
	$(MVN) -pl src/test -am verify -Dit.test=ChaosIT -Dtest=none \
	  -Dsurefire.failIfNoSpecifiedTests=false -Dfailsafe.failIfNoSpecifiedTests=false \
	  -Dlayerns.chaos.seed=$(CHAOS_SEED) -Dlayerns.chaos.steps=$(CHAOS_STEPS)

## demo: the whole story on one machine (root): a real three-node cluster, layerns installed with kubectl, pods.
demo: deps controlplane
	hack/demo.sh

## bench: benchmarks with their baselines in the same run; tables in bench/results/.
bench: deps controlplane
	hack/bench.sh

fmt:
	$(MVN) spotless:apply

clean:
	$(MVN) clean
