// Package e2e holds the end-to-end tests of flows: bundles deployed
// through the admin API of a real node (internal/testenv/testnode) and
// run over HTTP at /v1/flows against local REST servers standing in for
// enterprise systems. It has no code of its own.
package e2e
