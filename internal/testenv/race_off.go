//go:build !race

package testenv

// raceFlags build the binary as the test binary was built.
var raceFlags []string
