// The sandbox ("pause") image's one program, built static by hack/build-test-images.sh:
// the test cluster has no registry to pull registry.k8s.io/pause from.
module layerns.io/tools/pause

go 1.26.0
