//go:build race

package testenv

// raceFlags build the binary as the test binary was built, so that the
// packages compiled for the tests are reused from the build cache.
var raceFlags = []string{"-race"}
