//go:build race

package e2e

// buildFlags build the binary as this test binary was built, so that the
// packages compiled for the tests are reused from the build cache.
var buildFlags = []string{"-race"}
