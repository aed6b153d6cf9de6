// Package e2e tests push delivery with the real skybridge binary against
// the fake APNs of push/pushtest: a graceful stop (SIGTERM) and a kill -9
// in the middle of a 10,000-installation send.
package e2e
