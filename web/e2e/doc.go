// Package e2e holds the browser tests of the admin portal: portal_test.go
// builds and starts the real skybridge binary, then runs portal.mjs, which
// drives the Debian chromium through playwright-core (web/node_modules,
// installed by scripts/ensure-deps.sh) over every page of the portal. A
// device of the test answers the commands the portal sends over MQTT. It
// has no code of its own.
package e2e
